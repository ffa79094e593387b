import Foundation
import Runtime
import SpyglassProtocol

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
    nonisolated(unsafe) static var handling: Int32 = 0
    /// glibc's `backtrace` (unwinds with the binaries' unwind tables), found and warmed up at install: frames
    /// of code built without frame pointers (libc's `abort`) are walked with it.
    typealias UnwindFunction = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int32) -> Int32
    nonisolated(unsafe) static var unwind: UnwindFunction?
    nonisolated(unsafe) static var unwound: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    static var bufferSize: Int { magic.count + 16 + 2 + 9 * (maxFrames + 1) }

    /// Installs the handlers; crash files go to `directory`. Safe to call again (later calls do nothing).
    static func install(directory: URL) {
        guard crashPath == nil else { return }
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

        // An alternate stack, so a stack overflow can still be recorded.
        let stackSize = 256 * 1024
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stackSize, alignment: 16)
        stack.ss_size = stackSize
        stack.ss_flags = 0
        sigaltstack(&stack, nil)

        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = handleSignal
            action.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous! + Int(signal))
        }
        // A normal exit leaves no crash: its image map is not needed.
        atexit {
            let pid = getpid()
            guard let path = CrashHandler.crashPath else { return }
            let directory = URL(fileURLWithPath: String(cString: path)).deletingLastPathComponent()
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("images-\(pid).json"))
        }
    }

    /// The signal handler: async-signal-safe only.
    static let handleSignal: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
        signal, info, context in
        // A second fault while recording: give up at once.
        if handling != 0 {
            CrashHandler.restore(signal)
            return
        }
        handling = 1
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
            let (pc, framePointer) = CrashHandler.registers(context)
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
            while frame != 0, frame & 7 == 0, count < CrashHandler.maxFrames {
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
        }
        CrashHandler.restore(signal)
        // A signal sent by kill/raise is not raised again by returning: send it again to the previous handler.
        if let info, info.pointee.si_code <= 0 { raise(signal) }
    }

    /// Puts the previous handler back; returning from the handler re-runs the faulting instruction under it.
    static func restore(_ signal: Int32) {
        if let previous { sigaction(signal, previous + Int(signal), nil) }
    }

    static func registers(_ context: UnsafeMutableRawPointer) -> (pc: UInt64, framePointer: UInt64) {
        let ucontext = context.assumingMemoryBound(to: ucontext_t.self)
        #if arch(x86_64)
            return withUnsafeMutablePointer(to: &ucontext.pointee.uc_mcontext.gregs) { registers in
                registers.withMemoryRebound(to: Int64.self, capacity: 23) { (UInt64(bitPattern: $0[16]), UInt64(bitPattern: $0[10])) }
            }
        #elseif arch(arm64)
            let pc = ucontext.pointee.uc_mcontext.pc
            let fp = withUnsafeMutablePointer(to: &ucontext.pointee.uc_mcontext.regs) { registers in
                registers.withMemoryRebound(to: UInt64.self, capacity: 31) { $0[29] }
            }
            return (pc, fp)
        #else
            return (0, 0)
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
