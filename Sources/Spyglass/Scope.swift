import Foundation
import SpyglassProtocol
import Synchronization

/// What is attached to every event captured within it: tags, extras, contexts, user, breadcrumbs.
public struct Scope: Sendable {
    public var tags: [String: String] = [:]
    public var extras: [String: JSONValue] = [:]
    public var contexts: [String: JSONValue] = [:]
    public var user: SpyglassUser?
    public var level: SpyglassLevel?
    public var fingerprint: [String]?
    public var transaction: String?
    public var request: RequestInfo?
    /// The trace the scope's events (`contexts.trace`) and log lines belong to: one per process until a scope
    /// starts its own (``startTrace(sentryTrace:)``; the Hummingbird middleware does per request), so the
    /// server shows a request's log lines on its error's page.
    public private(set) var traceID = TraceIDs.traceID()
    public private(set) var spanID = TraceIDs.spanID()
    /// The newest breadcrumbs (`maxBreadcrumbs` of the options), oldest first.
    public private(set) var breadcrumbs: [Breadcrumb] = []
    var maxBreadcrumbs: Int

    public init(maxBreadcrumbs: Int = 100) {
        self.maxBreadcrumbs = maxBreadcrumbs
    }

    public mutating func setTag(_ key: String, _ value: String) { tags[key] = value }
    public mutating func setExtra(_ key: String, _ value: JSONValue) { extras[key] = value }
    public mutating func setContext(_ key: String, _ value: JSONValue) { contexts[key] = value }

    /// Adds a breadcrumb; past the limit the oldest one goes.
    public mutating func addBreadcrumb(_ breadcrumb: Breadcrumb) {
        guard maxBreadcrumbs > 0 else { return }
        if breadcrumbs.count >= maxBreadcrumbs { breadcrumbs.removeFirst(breadcrumbs.count - maxBreadcrumbs + 1) }
        breadcrumbs.append(breadcrumb)
    }

    /// Starts a new trace, or continues the one of an incoming `sentry-trace` header (`TRACE_ID-SPAN_ID[-SAMPLED]`,
    /// as Sentry's SDKs send it); a header that is not one starts a new trace.
    public mutating func startTrace(sentryTrace header: String? = nil) {
        traceID = header.flatMap(TraceIDs.traceID(sentryTrace:)) ?? TraceIDs.traceID()
        spanID = TraceIDs.spanID()
    }

    public mutating func clearBreadcrumbs() { breadcrumbs.removeAll() }

    /// Removes everything (the breadcrumb limit stays).
    public mutating func clear() { self = Scope(maxBreadcrumbs: maxBreadcrumbs) }

    /// The event with this scope's data; the event's own values win.
    func apply(to event: inout SpyglassEvent) {
        // Plain assignment where the event has none: copy-on-write, no per-element work on the caller.
        if event.tags.isEmpty { event.tags = tags } else { event.tags.merge(tags) { own, _ in own } }
        if event.extra.isEmpty { event.extra = extras } else { event.extra.merge(extras) { own, _ in own } }
        if event.contexts.isEmpty { event.contexts = contexts } else { event.contexts.merge(contexts) { own, _ in own } }
        if event.contexts["trace"] == nil {
            event.contexts["trace"] = ["trace_id": .string(traceID), "span_id": .string(spanID), "op": "default"]
        }
        if event.user == nil { event.user = user }
        if let level { event.level = level }
        if event.fingerprint == nil { event.fingerprint = fingerprint }
        if event.transaction == nil { event.transaction = transaction }
        if event.request == nil { event.request = request }
        event.breadcrumbs = event.breadcrumbs.isEmpty ? breadcrumbs : breadcrumbs + event.breadcrumbs
    }
}

/// A scope shared by the code running under it (a task tree, or the whole process).
final class ScopeBox: Sendable {
    let scope: Mutex<Scope>

    init(_ scope: Scope) { self.scope = Mutex(scope) }
}
