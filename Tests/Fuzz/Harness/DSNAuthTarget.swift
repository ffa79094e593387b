import Foundation

/// The text an SDK request carries besides its body: a DSN (in an envelope header, or configured), the
/// `X-Sentry-Auth` / `Authorization: Sentry …` header, `Content-Encoding`, event ids and public keys.
enum DSNAuthTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let dsn = DSN(text) {
            _ = dsn.description
            _ = dsn.envelopeURL
            _ = DSN(dsn.description)
        }
        if let url = URL(string: text),
            let dsn = DSN(baseURL: url, publicKey: "0123456789abcdef0123456789abcdef", projectID: 1)
        {
            _ = dsn.envelopeURL
            _ = DSN(dsn.description)
        }
        let fields = SentryAuth.parse(text)
        if let fields {
            for (key, value) in fields { require(!key.isEmpty && !value.isEmpty, "empty auth field \(key)=\(value)") }
            if let key = fields["sentry_key"] { _ = try? PublicKey.normalize(key) }
        }
        // Ingest reads only the key and version: the same as the whole header read.
        let credentials = SentryAuth.credentials(text)
        require((credentials == nil) == (fields == nil), "credentials and parse disagree on \(Array(text.utf8))")
        require(
            credentials?.key == fields?["sentry_key"] && credentials?.version == fields?["sentry_version"],
            "credentials \(String(describing: credentials)) against \(String(describing: fields))")
        _ = ContentEncoding(header: text)
        _ = EventID.normalize(text)
    }
}
