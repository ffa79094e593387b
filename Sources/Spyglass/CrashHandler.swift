import Foundation
import Runtime
import SpyglassProtocol
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Records fatal signals (force-unwrapped nil, out-of-bounds index, `fatalError`, SIGSEGV, SIGABRT, stack
/// overflow) and reports them on the next start.
///
/// The handler runs on an alternate signal stack and only does async-signal-safe work: it walks the frame
/// pointers from the signal's context into a preallocated buffer, encodes the addresses in the runtime's
/// Compact Backtrace Format and writes them with `open`/`write`. The image map (where each library was
/// loaded) is written at start, so the next start can turn the addresses back into a `Backtrace` and
/// symbolicate it. Then the previous handler takes over (the runtime's backtracer, or the default action).
enum CrashHandler {
    static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGFPE, SIGTRAP]
    static let maxFrames = 128
    static let magic: [UInt8] = Array("SPYGLASS-CRASH-1".utf8)

    // Preallocated at install; the handler touches nothing else.
    nonisolated(unsafe) static var crashPath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) static var buffer: UnsafeMutablePointer<UInt8>?
    nonisolated(unsafe) static var previous: UnsafeMutablePointer<sigaction>?
    /// The `pthread_self` of the thread recording a crash (0: none). A second fault on it gives up; another thread
    /// crashing at the same time waits (up to a second) until the record is written, then hands over.
    static let handling = Atomic<UInt>(0)
    /// Set once the crash file is written.
    static let recorded = Atomic<Bool>(false)
    nonisolated(unsafe) static var installPID: pid_t = 0
    /// A pipe to check that memory is readable before the frame walk reads it: `write` from an unreadable
    /// address fails with EFAULT instead of faulting (both ends non-blocking; what is written is read back).
    nonisolated(unsafe) static var probe: (read: Int32, write: Int32) = (-1, -1)
    static let installed = Mutex(false)
    /// True once the handlers and the thread key are in place (read on every SDK call, so not a lock).
    static let active = Atomic<Bool>(false)
    /// Threads that have an alternate signal stack (set by this SDK or by someone else).
    nonisolated(unsafe) static var stackKey = pthread_key_t()
    static let alternateStackSize = 256 * 1024
    /// glibc's `backtrace` (unwinds with the binaries' unwind tables), found and warmed up at install: frames
    /// of code built without frame pointers (libc's `abort`) are walked with it.
    typealias UnwindFunction = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int32) -> Int32
    nonisolated(unsafe) static var unwind: UnwindFunction?
    nonisolated(unsafe) static var unwound: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    static var bufferSize: Int { magic.count + 16 + 2 + 9 * (maxFrames + 1) }

    /// Installs the handlers; crash files go to `directory`. Safe to call again (later calls do nothing).
    static func install(directory: URL) {
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let pid = getpid()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Where each image is loaded in this process, for symbolication after a crash.
        guard let images = try? JSONEncoder().encode(ImageCache.images),
            (try? images.write(to: directory.appendingPathComponent("images-\(pid).json"))) != nil
        else { return }
        crashPath = strdup(directory.appendingPathComponent("crash-\(pid).bin").path)
        buffer = .allocate(capacity: bufferSize)
        if let symbol = dlsym(nil, "backtrace") {
            unwind = unsafeBitCast(symbol, to: UnwindFunction.self)
            unwound = .allocate(capacity: maxFrames + 64)
            _ = unwind?(unwound, 8)  // the first call loads the unwinder: never inside the handler
        }
        previous = .allocate(capacity: 65)
        previous?.initialize(repeating: sigaction(), count: 65)
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
            probe = (ends[0], ends[1])
        }
        // An alternate stack on this thread, and on every thread that calls into the SDK later (see
        // `prepareThread`), so a stack overflow can still be recorded there.
        pthread_key_create(&stackKey) { stack in
            // The thread ends: turn its alternate stack off before giving the memory back.
            // nil: none; 1: someone else's stack, not ours to free.
            guard let stack, UInt(bitPattern: stack) != 1 else { return }
            var off = stack_t()
            off.ss_flags = Int32(SS_DISABLE)
            sigaltstack(&off, nil)
            munmap(stack, CrashHandler.alternateStackSize)
        }
        active.store(true, ordering: .releasing)
        prepareThread()

        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = handleSignal
            action.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous! + Int(signal))
        }
        // A normal exit leaves no crash: its image map is not needed, and a crash file is one of a signal the
        // process survived (ignored, or handled by an earlier handler that returned).
        // (ExitFlush's exit hook calls `cleanUpAtExit` after its flush: a crash while flushing still finds the
        // image map.)
        _ = handling.load(ordering: .relaxed)  // initialized here, not on first use inside the handler
        _ = recorded.load(ordering: .relaxed)
        installPID = pid
    }

    /// At a normal exit: the image map is not needed, and a crash file is one of a signal the process survived
    /// (ignored, or handled by a handler of its own that returned). Only the process that installed the handler
    /// cleans up (a forked child exiting must not delete its parent's crash record).
    static func cleanUpAtExit() {
        guard active.load(ordering: .acquiring), getpid() == installPID, let path = crashPath else { return }
        unlink(path)
        let directory = URL(fileURLWithPath: String(cString: path)).deletingLastPathComponent()
        try? FileManager.default.removeItem(at: directory.appendingPathComponent("images-\(installPID).json"))
    }

    /// Gives the calling thread an alternate signal stack if it has none: a stack overflow is recorded only on
    /// threads that have one. Runs once per thread (a thread-specific value remembers it), from `start` and from
    /// every SDK call that code running on a thread makes (capture, breadcrumbs, scope changes).
    @inline(__always)
    static func prepareThread() {
        guard active.load(ordering: .acquiring), pthread_getspecific(stackKey) == nil else { return }
        var current = stack_t()
        if sigaltstack(nil, &current) == 0, current.ss_flags & Int32(SS_DISABLE) == 0 {
            // Someone else's stack: keep it, remember that this thread is done (any non-nil marker).
            pthread_setspecific(stackKey, UnsafeRawPointer(bitPattern: 1))
            return
        }
        // mmap: pages are only backed once the handler touches them.
        let memory = mmap(nil, alternateStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else { return }
        var stack = stack_t()
        stack.ss_sp = memory
        stack.ss_size = alternateStackSize
        stack.ss_flags = 0
        guard sigaltstack(&stack, nil) == 0 else {
            munmap(memory, alternateStackSize)
            return
        }
        pthread_setspecific(stackKey, memory)
    }

    /// Whether `count` bytes at `address` can be read (async-signal-safe: a write to the probe pipe).
    static func readable(_ address: UInt64, _ count: Int) -> Bool {
        guard probe.write >= 0, let pointer = UnsafeRawPointer(bitPattern: UInt(address)) else { return false }
        // The app may have closed our pipe and the numbers been reused for something else: write only to a pipe.
        var status = stat()
        guard fstat(probe.write, &status) == 0, status.st_mode & S_IFMT == S_IFIFO,
            fstat(probe.read, &status) == 0, status.st_mode & S_IFMT == S_IFIFO
        else { return false }
        guard write(probe.write, pointer, count) == count else { return false }
        var scratch: (UInt64, UInt64) = (0, 0)
        _ = withUnsafeMutableBytes(of: &scratch) { read(probe.read, $0.baseAddress, count) }
        return true
    }

    /// The signal handler: async-signal-safe only.
    static let handleSignal: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
        signal, info, context in
        // A signal sent with kill/raise that the process ignored before: still ignored, nothing to record.
        if let info, info.pointee.si_code <= 0, let previous = CrashHandler.previous,
            unsafeBitCast(previous[Int(signal)].__sigaction_handler.sa_handler, to: Int.self) == 1  // SIG_IGN
        {
            return
        }
        let thread = UInt(pthread_self())  // reads the thread pointer: no call into libc's locks
        let (claimed, holder) = CrashHandler.handling.compareExchange(expected: 0, desired: thread, ordering: .acquiringAndReleasing)
        guard claimed else {
            // A fault while recording (same thread): give up at once. Another thread crashing at the same time:
            // let the first one finish its record before this one's fault ends the process.
            if holder != thread {
                var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
                for _ in 0..<100 where !CrashHandler.recorded.load(ordering: .acquiring) { nanosleep(&pause, nil) }
            }
            CrashHandler.restore(signal)
            return
        }
        if let buffer = CrashHandler.buffer, let path = CrashHandler.crashPath, let context {
            var length = 0
            func put(_ byte: UInt8) {
                if length < CrashHandler.bufferSize { buffer[length] = byte; length += 1 }
            }
            func put64(_ value: UInt64, littleEndian: Bool) {
                for index in 0..<8 {
                    let shift = littleEndian ? UInt64(index * 8) : UInt64((7 - index) * 8)
                    put(UInt8(truncatingIfNeeded: value >> shift))
                }
            }
            for byte in CrashHandler.magic { put(byte) }
            put64(UInt64(bitPattern: Int64(signal)), littleEndian: true)
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            put64(UInt64(bitPattern: Int64(now.tv_sec)), littleEndian: true)
            // Compact Backtrace Format, version 0, 64-bit words.
            put(0x02)
            let (pc, framePointer, stackPointer) = CrashHandler.registers(context)
            put(0x1F)  // pc, absolute, 8 bytes
            put64(pc, littleEndian: false)
            var frame = framePointer
            var count = 0
            // abort() raises from libc, which keeps no frame pointers: unwind with the tables instead, from the
            // frame the signal interrupted on.
            if signal == SIGABRT, let unwind = CrashHandler.unwind, let unwound = CrashHandler.unwound {
                let total = Int(unwind(unwound, Int32(CrashHandler.maxFrames + 64)))
                var start = 0
                while start < total, UInt64(UInt(bitPattern: unwound[start])) != pc { start += 1 }
                if start < total {
                    for index in (start + 1)..<total where count < CrashHandler.maxFrames {
                        put(0x2F)
                        put64(UInt64(UInt(bitPattern: unwound[index])), littleEndian: false)
                        count += 1
                    }
                    frame = 0  // done
                }
            }
            // Frames lie above the stack pointer, and each is read only once the probe says it is readable:
            // a corrupt chain ends the walk instead of faulting inside the handler.
            if frame < stackPointer { frame = 0 }
            while frame != 0, frame & 7 == 0, count < CrashHandler.maxFrames, CrashHandler.readable(frame, 16) {
                guard let slots = UnsafePointer<UInt64>(bitPattern: UInt(frame)) else { break }
                let next = slots[0]
                let returnAddress = slots[1]
                if returnAddress == 0 { break }
                put(0x2F)  // ra, absolute, 8 bytes
                put64(returnAddress, littleEndian: false)
                count += 1
                // Frames go up the stack; anything else is not a frame chain.
                guard next > frame, next - frame < 64 * 1024 * 1024 else { break }
                frame = next
            }
            put(0x00)  // end
            let file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            if file >= 0 {
                var written = 0
                while written < length {
                    let result = write(file, buffer + written, length - written)
                    if result <= 0 { break }
                    written += result
                }
                close(file)
            }
            CrashHandler.recorded.store(true, ordering: .releasing)
        }
        // A signal sent by kill/raise to a process with a handler of its own: call that handler here. When it
        // returns, the process may go on (then the exit hook removes the record), or end right after (abort()
        // raising SIGABRT again once the runtime's handler reset it): the record stays for the next start.
        if let info, info.pointee.si_code <= 0, let previous = CrashHandler.previous {
            let action = previous[Int(signal)]
            let handler = unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
            if handler > 1 {  // neither SIG_DFL (0) nor SIG_IGN (1)
                if action.sa_flags & SA_SIGINFO != 0 {
                    action.__sigaction_handler.sa_sigaction?(signal, info, context)
                } else {
                    action.__sigaction_handler.sa_handler?(signal)
                }
                CrashHandler.recorded.store(false, ordering: .releasing)
                CrashHandler.handling.store(0, ordering: .releasing)
                return
            }
        }
        CrashHandler.restore(signal)
        // A signal sent by kill/raise is not raised again by returning: send it again to the previous handler.
        if let info, info.pointee.si_code <= 0 { raise(signal) }
    }

    /// Puts the previous handler back; returning from the handler re-runs the faulting instruction under it.
    static func restore(_ signal: Int32) {
        if let previous { sigaction(signal, previous + Int(signal), nil) }
    }

    static func registers(_ context: UnsafeMutableRawPointer) -> (pc: UInt64, framePointer: UInt64, stackPointer: UInt64) {
        let ucontext = context.assumingMemoryBound(to: ucontext_t.self)
        #if arch(x86_64)
            // REG_RIP 16, REG_RBP 10, REG_RSP 15
            return withUnsafeMutablePointer(to: &ucontext.pointee.uc_mcontext.gregs) { registers in
                registers.withMemoryRebound(to: Int64.self, capacity: 23) {
                    (UInt64(bitPattern: $0[16]), UInt64(bitPattern: $0[10]), UInt64(bitPattern: $0[15]))
                }
            }
        #elseif arch(arm64)
            let pc = ucontext.pointee.uc_mcontext.pc
            let fp = withUnsafeMutablePointer(to: &ucontext.pointee.uc_mcontext.regs) { registers in
                registers.withMemoryRebound(to: UInt64.self, capacity: 31) { $0[29] }
            }
            return (pc, fp, ucontext.pointee.uc_mcontext.sp)
        #else
            return (0, 0, 0)
        #endif
    }

    // MARK: - On the next start

    /// Events for the crashes recorded in `directory` by earlier runs; their files are removed.
    static func collectReports(directory: URL) -> [SpyglassEvent] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let ownPID = getpid()
        var events: [SpyglassEvent] = []
        for name in names where name.hasPrefix("crash-") && name.hasSuffix(".bin") {
            let pid = name.dropFirst("crash-".count).dropLast(".bin".count)
            // A file named after our own PID is an earlier process's (PIDs repeat: PID 1 in containers); this
            // process installs its handler only after collecting.
            let file = directory.appendingPathComponent(name)
            let imagesFile = directory.appendingPathComponent("images-\(pid).json")
            defer {
                try? FileManager.default.removeItem(at: file)
                try? FileManager.default.removeItem(at: imagesFile)
            }
            guard let data = FileManager.default.contents(atPath: file.path), let event = report(Array(data), images: FileManager.default.contents(atPath: imagesFile.path)) else {
                continue
            }
            events.append(event)
        }
        // Image maps of processes that ended without crashing (killed, say) are not needed any more.
        for name in names where name.hasPrefix("images-") && name.hasSuffix(".json") {
            let pid = name.dropFirst("images-".count).dropLast(".json".count)
            guard let number = Int32(pid), number != ownPID, kill(number, 0) != 0 else { continue }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        return events
    }

    static func report(_ bytes: [UInt8], images: Data?) -> SpyglassEvent? {
        guard bytes.count > magic.count + 16, Array(bytes.prefix(magic.count)) == magic else { return nil }
        func int64(at offset: Int) -> Int64 {
            (0..<8).reduce(Int64(0)) { $0 | Int64(bytes[offset + $1]) << Int64($1 * 8) }
        }
        let signal = Int32(truncatingIfNeeded: int64(at: magic.count))
        let time = Date(timeIntervalSince1970: Double(int64(at: magic.count + 8)))
        let compact = Array(bytes[(magic.count + 16)...])
        var stack: CapturedStack?
        var failure: String?
        if let images, let imageMap = String(data: images, encoding: .utf8) {
            #if arch(x86_64)
                let architecture = "x86_64"
            #else
                let architecture = "arm64"
            #endif
            let json = "{\"architecture\":\"\(architecture)\",\"backtrace\":\"\(Data(compact).base64EncodedString())\",\"imageMap\":\(imageMap)}"
            if let backtrace = try? JSONDecoder().decode(Backtrace.self, from: Data(json.utf8)) {
                stack = CapturedStack(backtrace: backtrace)
                failure = backtrace.symbolicated()?.swiftRuntimeFailure
            }
        }
        var event = SpyglassEvent(level: .fatal, timestamp: time)
        let name = signalName(signal)
        let trap = signal == SIGILL || signal == SIGTRAP
        let value = failure
            ?? (trap
                ? "Swift runtime trap (\(name)): a failed precondition, force unwrap of nil, index out of range or fatalError"
                : "the process received \(name) (\(String(cString: strsignal(signal))))")
        event.exceptions = [
            ExceptionValue(
                type: name, value: value, stack: stack,
                mechanism: "signalhandler", handled: false)
        ]
        event.tags["crashed"] = "true"
        return event
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGBUS: "SIGBUS"
        case SIGILL: "SIGILL"
        case SIGABRT: "SIGABRT"
        case SIGFPE: "SIGFPE"
        case SIGTRAP: "SIGTRAP"
        default: "signal \(signal)"
        }
    }
}
