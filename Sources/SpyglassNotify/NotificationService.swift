import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SpyglassCore
import Synchronization

/// Why a notification was not delivered. `permanent` errors (5xx SMTP replies, refused addresses, bad
/// configuration) are not retried.
public struct DeliveryError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var permanent: Bool

    public init(_ message: String, permanent: Bool = false) {
        self.message = message
        self.permanent = permanent
    }

    public var description: String { message }
}

/// What the delivery worker needs to know.
public struct NotifySettings: Sendable {
    /// nil: e-mail actions fail with a message saying SMTP is not configured.
    public var smtp: SMTPConfiguration?
    /// The sender of alert mails (`SPYGLASS_EMAIL_FROM`).
    public var emailFrom: String
    public var retry: RetryPolicy
    /// Allow webhooks to loopback, private and other special-purpose addresses (`SPYGLASS_WEBHOOK_ALLOW_PRIVATE`).
    public var allowPrivateWebhooks: Bool
    /// How often the outbox is looked at when idle.
    public var pollInterval: Duration
    /// Seconds a node holds the notifications it claimed (``NotificationOutbox/claimDueNotifications(now:limit:lease:)``);
    /// a node that dies mid-delivery leaves them to the others after this. Longer than a delivery round can take
    /// (SMTP's 10 s connect and 30 s answer timeouts, webhooks' 15 s), or a slow node and another both send.
    public var lease: Double

    public init(
        smtp: SMTPConfiguration?, emailFrom: String, retry: RetryPolicy = RetryPolicy(), allowPrivateWebhooks: Bool = false,
        pollInterval: Duration = .seconds(1), lease: Double = 120
    ) {
        self.smtp = smtp
        self.emailFrom = emailFrom
        self.retry = retry
        self.allowPrivateWebhooks = allowPrivateWebhooks
        self.pollInterval = pollInterval
        self.lease = lease
    }
}

/// The outbox worker: delivers due notifications, records every attempt, retries with exponential backoff.
///
/// Rows are written by the ingest writer in the event's transaction; this service claims them for a lease and
/// records attempts, so a restart (or another node, after the lease) resumes where it stopped, and nodes on one
/// database never send the same row at once. A row is marked delivered right after its send succeeds; only a
/// crash between the two can repeat a send, and then the same `Message-ID` / `X-Spyglass-Delivery` lets the
/// receiver recognise it.
public struct NotificationService: Service {
    let outbox: any NotificationOutbox
    let settings: NotifySettings
    /// The renderer, asked per delivery: the public URL is known only once the socket is bound (port 0).
    let renderer: @Sendable () -> NotificationRenderer
    let logger: Logger
    let metrics: any MetricsFactory
    let depth: Gauge

    public init(
        outbox: any NotificationOutbox, settings: NotifySettings, renderer: @escaping @Sendable () -> NotificationRenderer, logger: Logger,
        metrics: any MetricsFactory
    ) {
        self.outbox = outbox
        self.settings = settings
        self.renderer = renderer
        self.logger = logger
        self.metrics = metrics
        self.depth = Gauge(label: "spyglass_notification_outbox_depth", factory: metrics)
    }

    /// Notifications claimed in one round at most.
    static let roundLimit = 20

    public func run() async throws {
        let webhooks = WebhookSender(allowPrivate: settings.allowPrivateWebhooks)
        var depthSampler = DepthSampler()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var delivered = 0
            do {
                let due = try await outbox.claimDueNotifications(
                    now: .now, limit: Self.roundLimit, lease: settings.lease)
                delivered = due.count
                // Each notification on its own task: one slow receiver doesn't hold up the others. Their attempts
                // are recorded together as they finish (a commit each would cost a disk sync each).
                let recorder = AttemptRecorder(outbox: outbox, logger: logger, expected: due.count)
                await withTaskGroup(of: Void.self) { group in
                    for notification in due {
                        group.addTask { await deliver(notification, webhooks: webhooks, recorder: recorder) }
                    }
                }
                if depthSampler.counts(claimed: due.count, now: .now) {
                    depth.record(try await outbox.pendingNotificationCount())
                }
            } catch {
                logger.error("notification outbox failed", metadata: ["error": "\(error)"])
            }
            if delivered == 0 {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: settings.pollInterval) }
            } else if delivered < Self.roundLimit {
                // The outbox is drained for now; while rows keep coming (a burst of new issues), a short pause
                // lets the next round take many at once: each round is two write transactions, each with a disk
                // sync, on the connection the ingest writer commits through (docs/performance.md).
                let pause = min(settings.pollInterval, .milliseconds(50))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }

    /// When a round counts the pending notifications for `spyglass_notification_outbox_depth`: at most once a second,
    /// and once more after the round that follows rounds that found work, when it finds none (the count then says
    /// where a burst ended). The count reads an index entry for every pending row, and in PostgreSQL also those that
    /// attempts left dead until vacuum: counted after every round of a burst, it cost PostgreSQL more than claiming
    /// the rows (docs/performance.md). While idle it still counts once a second at most: another node's worker may
    /// be the one delivering, and issues deleted take their notifications.
    struct DepthSampler {
        static let interval = Duration.seconds(1)
        private var last: ContinuousClock.Instant?
        /// Rounds claimed rows since the last count.
        private var unsettled = false

        /// Whether the round that claimed `claimed` notifications, ending at `now`, counts.
        mutating func counts(claimed: Int, now: ContinuousClock.Instant) -> Bool {
            if claimed > 0 { unsettled = true }
            let due = last.map { now - $0 >= Self.interval } ?? true
            guard due || (claimed == 0 && unsettled) else { return false }
            last = now
            unsettled = false
            return true
        }
    }

    func deliver(_ notification: PendingNotification, webhooks: WebhookSender, recorder: AttemptRecorder) async {
        let channel = notification.action.channel
        var detail = "ok"
        var permanent = false
        var succeeded = true
        do {
            detail = try await send(notification, webhooks: webhooks)
        } catch let error as DeliveryError {
            (succeeded, detail, permanent) = (false, error.message, error.permanent)
        } catch {
            (succeeded, detail) = (false, "\(error)")
        }
        let now = Date.now
        let attempts = notification.attempts + 1
        let retryAt = succeeded || permanent ? nil : settings.retry.retryDate(afterAttempts: attempts, now: now)
        let outcome = succeeded ? "delivered" : retryAt == nil ? "failed" : "retry"
        Counter(label: "spyglass_notifications_total", dimensions: [("channel", channel), ("outcome", outcome)], factory: metrics)
            .increment()
        var metadata: Logger.Metadata = [
            "spyglass.notification": "\(notification.id)", "spyglass.channel": "\(channel)", "spyglass.attempt": "\(attempts)",
            "spyglass.outcome": "\(outcome)",
        ]
        if !succeeded { metadata["error"] = "\(detail)" }
        logger.log(level: succeeded ? .info : .warning, "notification \(outcome)", metadata: metadata)
        await recorder.record(
            RecordedAttempt(
                notificationID: notification.id, attempt: DeliveryAttempt(date: now, succeeded: succeeded, detail: detail),
                retryAt: retryAt))
    }

    /// Sends one notification; returns a short note on success.
    func send(_ notification: PendingNotification, webhooks: WebhookSender) async throws -> String {
        try await Self.send(notification, settings: settings, renderer: renderer(), webhooks: webhooks)
    }

    /// Sends one notification with these settings (the outbox's deliveries and test notifications alike).
    static func send(
        _ notification: PendingNotification, settings: NotifySettings, renderer: NotificationRenderer, webhooks: WebhookSender
    ) async throws -> String {
        switch notification.action {
        case .email(let recipients):
            guard let smtp = settings.smtp else {
                throw DeliveryError("e-mail is not configured (set SPYGLASS_SMTP_URL and SPYGLASS_EMAIL_FROM)", permanent: true)
            }
            guard case .addresses(let addresses) = recipients, !addresses.isEmpty else {
                throw DeliveryError("no recipients", permanent: true)
            }
            let host = settings.emailFrom.split(separator: "@").last.map(String.init) ?? "spyglass"
            let message = renderer.mail(notification, from: settings.emailFrom, to: addresses, host: host)
            try await SMTPClient(configuration: smtp).send(message)
            return "sent to \(addresses.count) recipient(s) via \(smtp.host)"
        case .webhook(let url, let secret):
            let body = renderer.webhookBody(notification)
            // Without a secret (none was given: secrets are write-only, a generated one nobody knows is useless)
            // the delivery is unsigned.
            var headers = [("X-Spyglass-Delivery", String(notification.id))]
            if !secret.isEmpty { headers.insert(("X-Spyglass-Signature", WebhookSender.signature(body, secret: secret)), at: 0) }
            try await webhooks.post(url, body: body, headers: headers)
            return "accepted"
        case .slack(let url):
            try await webhooks.post(url, body: renderer.slackBody(notification), headers: [])
            return "accepted"
        case .discord(let url):
            try await webhooks.post(url, body: renderer.discordBody(notification), headers: [])
            return "accepted"
        }
    }
}

/// Records the attempts of concurrent deliveries with group commit: the first to finish writes its attempt
/// and, in further transactions, whatever finished meanwhile, until none is left. Every other caller returns
/// once its attempt is queued: the writing caller's task records it before it ends, and the delivery round
/// waits for all its tasks.
///
/// Before each write the writer waits a little (``gathering``, at most) for the round's other attempts
/// (`expected` in all): deliveries that end together (a burst of new issues whose e-mails fail at once, without
/// SMTP) are then written in one transaction, not in two (the first alone, then the rest), each with a disk sync
/// on the connection the ingest writer commits through (docs/performance.md). A slow delivery is recorded when it
/// ends, in a write of its own.
final class AttemptRecorder: Sendable {
    private struct State {
        var queued: [RecordedAttempt] = []
        var writing = false
        /// Attempts recorded so far.
        var arrived = 0
    }

    private let outbox: any NotificationOutbox
    private let logger: Logger
    private let state = Mutex(State())
    /// The attempts of the round (1: each write takes what has arrived, without waiting).
    private let expected: Int

    /// How long a write waits at most for the round's other attempts.
    static let gathering: Duration = .milliseconds(5)

    init(outbox: any NotificationOutbox, logger: Logger, expected: Int = 1) {
        self.outbox = outbox
        self.logger = logger
        self.expected = expected
    }

    func record(_ attempt: RecordedAttempt) async {
        let writes = state.withLock { state in
            state.queued.append(attempt)
            state.arrived += 1
            let writes = !state.writing
            state.writing = true
            return writes
        }
        guard writes else { return }
        while true {
            let deadline = ContinuousClock.now + Self.gathering
            while state.withLock({ $0.arrived < expected }) && ContinuousClock.now < deadline {
                await Task.yield()
                if state.withLock({ $0.arrived < expected }) { try? await Task.sleep(for: .milliseconds(1)) }
            }
            let batch = state.withLock { state in
                defer { state.queued = [] }
                if state.queued.isEmpty { state.writing = false }
                return state.queued
            }
            if batch.isEmpty { return }
            do {
                try await outbox.recordAttempts(batch)
            } catch {
                // One attempt must not take the others with it (their notifications would be sent again): each alone.
                for attempt in batch {
                    do {
                        try await outbox.recordAttempts([attempt])
                    } catch {
                        logger.error(
                            "could not record a notification attempt",
                            metadata: ["error": "\(error)", "spyglass.notification": "\(attempt.notificationID)"])
                    }
                }
            }
        }
    }
}
