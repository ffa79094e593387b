import Foundation

/// A count of work in progress that can be waited on until it is zero: by a task (`flush`, `close`) or by a
/// thread that may not suspend (the exit handler). Whoever takes the count to zero wakes the waiters; nobody
/// polls.
final class Countdown: @unchecked Sendable {
    // Guards `count`, `waiters` and `nextWaiter`; its condition wakes blocked threads.
    private let condition = NSCondition()
    private var count = 0
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0

    var value: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    func increment() {
        condition.lock()
        count += 1
        condition.unlock()
    }

    func decrement() {
        condition.lock()
        // Never below zero: a reset may have counted this one already.
        count = max(count - 1, 0)
        var woken: [CheckedContinuation<Void, Never>] = []
        if count == 0 && !waiters.isEmpty {
            woken = Array(waiters.values)
            waiters = [:]
        }
        if count == 0 { condition.broadcast() }
        condition.unlock()
        for waiter in woken { waiter.resume() }
    }

    /// Blocks the calling thread until the count is zero or `deadline` passes; true when it is zero.
    func waitForZero(until deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count > 0 {
            if !condition.wait(until: deadline) { return count == 0 }
        }
        return true
    }

    /// Suspends until the count is zero or `timeout` passes; true when it is zero.
    func waitForZero(timeout: Duration) async -> Bool {
        if value == 0 { return true }
        // A deadline beyond a day would be the same as none, and a huge one overflows the clock's instant.
        let limit = min(timeout, .seconds(86_400))
        // Whichever comes first says: the count reached zero (true, even if a new event came in since), or the
        // time ran out (false).
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.zero() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func newWaiterID() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextWaiter += 1
        return nextWaiter
    }

    /// Returns true when the count is zero, false at once when the task is cancelled first.
    private func zero() async -> Bool {
        let id = newWaiterID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                condition.lock()
                // Cancelled before this registered: the handler below found nothing to resume.
                if count == 0 || Task.isCancelled {
                    condition.unlock()
                    continuation.resume()
                    return
                }
                waiters[id] = continuation
                condition.unlock()
            }
        } onCancel: {
            condition.lock()
            let waiter = waiters.removeValue(forKey: id)
            condition.unlock()
            waiter?.resume()
        }
        return !Task.isCancelled
    }
}
