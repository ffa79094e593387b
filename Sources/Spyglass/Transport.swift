import AsyncHTTPClient
import CZlib
import Foundation
import NIOCore
import NIOHTTP1
import SpyglassProtocol

/// What a transport answers for one envelope.
public enum TransportResult: Sendable, Hashable {
    case sent
    /// The server limited us: drop this envelope; `headers` are the rate-limit headers to honour.
    case rateLimited(rateLimits: String?, retryAfter: String?)
    /// The server refused the envelope (4xx): drop it.
    case rejected(status: Int)
    /// The server could not be reached or failed (5xx): keep the envelope for later.
    case unreachable(String)
}

/// Sends envelopes somewhere: HTTP by default, `SpyglassTesting.TestTransport` in tests.
public protocol Transport: Sendable {
    func send(_ envelope: [UInt8], dsn: DSN) async -> TransportResult
}

/// Envelopes over HTTP, gzip-compressed, authenticated by the DSN's key.
struct HTTPTransport: Transport {
    let client: HTTPClient

    static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(15)))
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func send(_ envelope: [UInt8], dsn: DSN) async -> TransportResult {
        guard let url = dsn.envelopeURL else { return .rejected(status: 0) }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-sentry-envelope")
        request.headers.add(name: "Content-Encoding", value: "gzip")
        request.headers.add(
            name: "X-Sentry-Auth",
            value: "Sentry sentry_version=7, sentry_client=\(SDKInfo.name)/\(SDKInfo.version), sentry_key=\(dsn.publicKey)")
        request.headers.add(name: "User-Agent", value: "\(SDKInfo.name)/\(SDKInfo.version)")
        request.body = .bytes(ByteBuffer(bytes: Gzip.compress(envelope)))
        do {
            let response = try await client.execute(request, timeout: .seconds(20))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            switch code {
            case 200..<300: return .sent
            case 429: return .rateLimited(rateLimits: response.headers.first(name: "X-Sentry-Rate-Limits"), retryAfter: response.headers.first(name: "Retry-After"))
            case 400..<500:
                if let limits = response.headers.first(name: "X-Sentry-Rate-Limits") {
                    return .rateLimited(rateLimits: limits, retryAfter: response.headers.first(name: "Retry-After"))
                }
                return .rejected(status: code)
            default: return .unreachable("server answered \(code)")
            }
        } catch {
            return .unreachable("\(error)")
        }
    }
}

enum SDKInfo {
    static let name = "spyglass.swift"
    static let version = "0.1.0"
}

/// gzip with zlib (level 6, as the Python SDK).
enum Gzip {
    static func compress(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return input }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        var input = input
        let written: Int = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                return target.count - Int(stream.avail_out)
            }
        }
        return written < 0 ? input : Array(output.prefix(written))
    }
}

/// `X-Sentry-Rate-Limits` and `Retry-After`: until when each category may not be sent.
struct RateLimits: Sendable {
    private(set) var until: [String: Date] = [:]

    /// Applies a response's headers at `now`.
    mutating func update(rateLimits: String?, retryAfter: String?, now: Date) {
        if let rateLimits {
            // "60:error;transaction:key, 2700:default:organization" — seconds, categories (empty: all), scope…
            for entry in rateLimits.split(separator: ",") {
                let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false)
                guard let seconds = parts.first.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), seconds >= 0 else { continue }
                let categories = parts.count > 1 ? parts[1].split(separator: ";").map(String.init) : []
                let date = now.addingTimeInterval(seconds)
                for category in categories.isEmpty ? ["*"] : categories where (until[category] ?? .distantPast) < date {
                    until[category] = date
                }
            }
        } else if let retryAfter {
            let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)) ?? 60
            until["*"] = max(until["*"] ?? .distantPast, now.addingTimeInterval(seconds))
        } else {
            until["*"] = max(until["*"] ?? .distantPast, now.addingTimeInterval(60))
        }
    }

    /// Whether items of `category` may be sent at `now` (`error` events also match `default`).
    func allows(_ category: String, now: Date) -> Bool {
        for key in ["*", category] + (category == "error" ? ["default"] : []) {
            if let date = until[key], date > now { return false }
        }
        return true
    }
}
