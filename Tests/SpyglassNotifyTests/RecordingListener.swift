import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// What a `RecordingListener` saw: accepted connections and the requests (head and body, as text).
struct Received: Sendable {
    var connections = 0
    var requests: [String] = []
}

/// The listener's record, shared by its tasks and the test.
final class RecordedTraffic: Sendable {
    let state = Mutex(Received())
}

/// A real HTTP/1.1 listener for webhook tests: records every connection and request, answers each request with
/// `answer` and closes. Runs while `body` runs.
func withRecordingListener<T: Sendable>(
    on address: String = "127.0.0.1", answer: String = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    _ body: @Sendable (_ port: Int, _ received: @escaping @Sendable () -> Received) async throws -> T
) async throws -> T {
    let received = RecordedTraffic()
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: address, port: 0) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    let port = try #require(server.channel.localAddress?.port)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    received.state.withLock { $0.connections += 1 }
                    try? await connection.executeThenClose { input, output in
                        var data: [UInt8] = []
                        for try await chunk in input {
                            data += chunk.readableBytesView
                            guard let request = completeRequest(data) else { continue }
                            received.state.withLock { $0.requests.append(request) }
                            try await output.write(ByteBuffer(string: answer))
                            break
                        }
                    }
                }
            }
        }
        defer { group.cancelAll() }
        return try await body(port, { received.state.withLock { $0 } })
    }
}

/// The request as text once its head and `Content-Length` bytes of body are in `data`.
private func completeRequest(_ data: [UInt8]) -> String? {
    let text = String(decoding: data, as: UTF8.self)
    guard let end = text.range(of: "\r\n\r\n") else { return nil }
    let length =
        text[..<end.lowerBound].split(separator: "\r\n")
        .first { $0.lowercased().hasPrefix("content-length:") }
        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
    return text[end.upperBound...].utf8.count >= length ? text : nil
}
