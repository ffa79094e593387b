import Mustache

/// HTML escaping for every template (`{{% CONTENT_TYPE: SAFEHTML}}` heads each one).
///
/// swift-mustache's own HTML escaping looks at whole characters (grapheme clusters): a `"` followed by a
/// combining mark is one character that is not `"`, and would pass unescaped, ending an attribute value.
/// This escapes by byte, so no combining mark hides a quote, an angle bracket or an ampersand.
struct SafeHTML: MustacheContentType {
    static let name = "SAFEHTML"

    func escapeText(_ text: String) -> String {
        Self.escape(text)
    }

    static func escape(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + 32)
        for byte in utf8 {
            switch byte {
            case 0x26: out.append(contentsOf: Array("&amp;".utf8))
            case 0x3C: out.append(contentsOf: Array("&lt;".utf8))
            case 0x3E: out.append(contentsOf: Array("&gt;".utf8))
            case 0x22: out.append(contentsOf: Array("&quot;".utf8))
            case 0x27: out.append(contentsOf: Array("&#39;".utf8))
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
