import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

/// `EventNormalizer.normalize(json:context:)` derives an event's fields straight from its bytes; whenever it gives an
/// event, every derived field must equal what the tree path gives (parse leaving the unread members out, then
/// `normalize(_:context:)`), and for the usual shapes it must give one (else ingest never takes the fast path).
struct EventBytesTests {
    static let received = Date(timeIntervalSince1970: 1_795_000_000)
    static let contexts = [
        EventNormalizer.Context(received: received),
        EventNormalizer.Context(
            envelopeEventID: "9EC79C33-EC99-42AB-8353-589FCB2E04DC", sentAt: received.addingTimeInterval(-7200),
            received: received, clientIP: "192.0.2.1"),
        EventNormalizer.Context(sentAt: received.addingTimeInterval(-3), received: received, clientIP: "2001:db8::1"),
    ]

    /// Everything ingest takes from a normalized event but its payload (an id generated for an event without one is
    /// left out: two readings generate two).
    static func derived(_ event: NormalizedEvent, withID: Bool) -> String {
        var fields: [String] = [
            "\(event.timestamp.timeIntervalSince1970)", "\(event.received.timeIntervalSince1970)", event.level,
            event.platform, "\(event.release as Any)", "\(event.environment as Any)", "\(event.hashes)",
            "\(event.summary)", "\(event.tags)", "\(event.userKey as Any)", "\(event.user as Any)",
            "\(event.sentAt as Any)", "\(event.clientIP as Any)",
        ]
        if withID { fields.insert(event.eventID, at: 0) }
        return fields.joined(separator: "\n")
    }

    /// The tree path's fields (nil: it refuses the event) and the bytes path's (nil: it leaves the event to the tree).
    static func both(_ text: String, _ context: EventNormalizer.Context) -> (tree: String?, bytes: String?) {
        let bytes = Array(text.utf8)
        let hasID = context.envelopeEventID != nil || text.contains(#""event_id":""#)
        let tree = (try? JSONParser.parse(
            bytes, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers))
            .flatMap { try? EventNormalizer().normalize($0, context: context) }
        let direct = EventNormalizer().normalize(json: bytes, context: context)
        if let direct {
            #expect(direct.payload == .null)
            #expect(EventID.normalize(direct.eventID) == direct.eventID)
        }
        return (tree.map { derived($0, withID: hasID) }, direct.map { derived($0, withID: hasID) })
    }

    static func frame(
        _ function: String, module: String = "app.views", file: String = "app/views.py", line: String = "run()",
        inApp: Bool = true, lineno: String = "10", extra: String = ""
    ) -> String {
        #"{"filename":"\#(file)","abs_path":"/srv/\#(file)","function":"\#(function)","module":"\#(module)","lineno":\#(lineno),"pre_context":["a","b"],"context_line":"\#(line)","post_context":["c"],"vars":{"x":"1","request":{"a":[1,2]}},"in_app":\#(inApp)\#(extra)}"#
    }

    static func exception(_ type: String, _ value: String, frames: [String], mechanism: String = #"{"type":"generic","handled":false}"#) -> String {
        #"{"type":"\#(type)","value":"\#(value)","module":null,"mechanism":\#(mechanism),"stacktrace":{"frames":[\#(frames.joined(separator: ","))]}}"#
    }

    static let python = #"""
        {"event_id":"4ea35aa1bbd84c8e9e5e0bd3f12d7a11","timestamp":"2026-11-18T10:00:01.123456Z","level":"error",
         "platform":"python","release":"shop@1.4.2","environment":"production","server_name":"web-1",
         "transaction":"/api/orders","logger":"django.request","message":null,
         "exception":{"values":[\#(exception("ValueError", "bad value 12345 for order 7", frames: [
            frame("<module>", module: "__main__", file: "manage.py", line: "main()", inApp: false),
            frame("dispatch", module: "django.core.handlers", file: "django/core/handlers/base.py", inApp: false),
            frame("recurse", line: "recurse(n - 1)", lineno: "42"), frame("recurse", line: "recurse(n - 1)", lineno: "42"),
            frame("recurse", line: "recurse(n - 1)", lineno: "42"), frame("handler", line: "raise ValueError(x)"),
         ]))]},
         "breadcrumbs":{"values":[{"timestamp":"2026-11-18T10:00:00Z","category":"query","message":"SELECT 1"}]},
         "tags":{"tenant":"acme","region":"eu-1","zone":7,"flag":true,"empty":""},
         "user":{"id":"4711","email":"Ada@Example.com","ip_address":"{{auto}}"},
         "contexts":{"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}},
         "extra":{"a":1},"modules":{"django":"5.0"},"sdk":{"name":"sentry.python","version":"2.19.0"},
         "request":{"url":"https://shop.example/api/orders","method":"POST"}}
        """#

    /// Shapes ingest sees from SDKs, and their corner cases the fast path must read exactly as the tree path.
    static let usual: [String] = [
        python,
        python.replacingOccurrences(of: #""level":"error""#, with: #""level":"WARN""#),
        // The envelope-less time forms, a future time, an old one.
        python.replacingOccurrences(of: #""2026-11-18T10:00:01.123456Z""#, with: "1794999999.5"),
        python.replacingOccurrences(of: #""2026-11-18T10:00:01.123456Z""#, with: "1895000000"),
        python.replacingOccurrences(of: #""2026-11-18T10:00:01.123456Z""#, with: #""1999-01-01T00:00:00Z""#),
        python.replacingOccurrences(of: #""2026-11-18T10:00:01.123456Z""#, with: "null"),
        // Releases and environments refused or kept.
        python.replacingOccurrences(of: #""shop@1.4.2""#, with: #""latest""#),
        python.replacingOccurrences(of: #""shop@1.4.2""#, with: "142"),
        python.replacingOccurrences(of: #""production""#, with: #"" none ""#),
        python.replacingOccurrences(of: #""production""#, with: #""  staging ""#),
        // The app variant differs from the system one; no frame in the app.
        python.replacingOccurrences(of: #""in_app":true"#, with: #""in_app":false"#),
        python.replacingOccurrences(of: #""in_app":false"#, with: #""in_app":"yes""#),
        // A message instead of an exception; a log entry; both; neither.
        #"{"message":"Order 4711 failed after 3 tries","level":"info","platform":"python"}"#,
        #"{"logentry":{"message":"Order %s failed","params":["4711"],"formatted":"Order 4711 failed"},"message":"other"}"#,
        #"{"logentry":{"formatted":"only formatted\nsecond line"},"transaction":"checkout"}"#,
        #"{"message":{"message":"legacy %s","params":[1]}}"#,
        #"{}"#,
        #"{"platform":"Not A Platform!","level":7,"release":{"x":1},"environment":["e"],"server_name":5}"#,
        // Exceptions without a stack, synthetic ones, bare lists, non-object entries and frames.
        #"{"exception":[{"type":"KeyError","value":"user 4711 not found"},"x",3]}"#,
        #"{"exception":{"values":[{"type":"","value":""},{"type":"E","value":"v","mechanism":{"synthetic":true},"stacktrace":null}]}}"#,
        #"{"exception":{"values":"nope"},"message":"fallback 12"}"#,
        #"{"exception":{"values":[{"type":"E","stacktrace":{"frames":[]}},{"type":"F","stacktrace":{"frames":[1,"x",null]}}]}}"#,
        #"{"exception":{"values":[{"type":"E","stacktrace":{"frames":{"0":1}}},{"type":"F","stacktrace":"x"}]},"exception2":1}"#,
        #"{"exception":null,"threads":null,"fingerprint":null,"stacktrace":null,"logentry":{"message":"m"}}"#,
        // Frames: recursion on numbers written differently, missing members, raw functions, other platforms.
        #"{"platform":"native","exception":[{"type":"SIGSEGV","stacktrace":{"frames":[{"function":"f","lineno":1},{"function":"f","lineno":1.0},{"function":"f","lineno":1},{"raw_function":"void g(int)","filename":"C:/src/Main.CPP"},{"package":"/usr/lib/libc.so","function":"abort"},{"package":"/usr/lib/libc.so","function":"abort","colno":2}]}}]}"#,
        #"{"platform":"javascript","exception":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[{"module":"app/main","abs_path":"https://shop.example/static/app/main","function":"Object.run","in_app":true,"context_line":"  run( x )"},{"filename":"<anonymous>","function":"eval"},{"abs_path":"https://cdn.example/lib.js","function":"lib.call","platform":"node"},{"filename":"[native code]","function":"Array.map"}]}}]}"#,
        #"{"platform":"python","exception":[{"type":"E","stacktrace":{"frames":[{"module":"","filename":"dir/sub/File.PY","function":"lambda","context_line":"\#(String(repeating: "y", count: 121))","in_app":true},{"function":"g","context_line":"  a   b   c  ","in_app":true,"platform":"ruby"}]}}]}"#,
        // Canonically equivalent names (é precomposed and decomposed) are one frame repeated; different bytes alike.
        #"{"platform":"python","exception":[{"type":"E","stacktrace":{"frames":[{"function":"caf\#u{E9}","module":"m"},{"function":"cafe\#u{301}","module":"m"},{"function":"cafe","module":"m"}]}}]}"#,
        // Escaped strings in frames: a source line with quotes, a Windows path, one name written two ways.
        #"{"platform":"python","exception":[{"type":"E","stacktrace":{"frames":[{"function":"f","module":"m","context_line":"raise E(f\"order {n}\")","in_app":true},{"function":"\u0066","module":"m","context_line":"raise E(f\"order {n}\")"},{"filename":"C:\\src\\App.py","abs_path":"C:\\src\\App.py","function":"a\\b","lineno":3},{"filename":"C:\\src\\App.py","abs_path":"C:\\src\\App.py","function":"a\\b","lineno":3}]}}]}"#,
        // Threads and an event-level stack beside exceptions with stacks (as JVM and .NET SDKs send): not read.
        #"{"platform":"java","exception":{"values":[{"type":"java.lang.IllegalStateException","value":"boom","module":"java.lang","stacktrace":{"frames":[{"function":"run","module":"com.shop.Worker","filename":"Worker.java","lineno":12,"in_app":true}]},"thread_id":1}]},"threads":{"values":[{"id":1,"crashed":true,"stacktrace":{"frames":[{"function":"main","module":"com.shop.App"}]}},{"id":2,"name":"gc"}]},"stacktrace":{"frames":[{"function":"x"}]}}"#,
        // An exception without frames still gives grouping its type, and its stack trace member hides the event's.
        #"{"exception":[{"type":"E","stacktrace":{"frames":[]}}],"stacktrace":{"frames":[{"function":"g","in_app":true}]}}"#,
        // Fingerprints: literal, salting the default, every variable, none that counts.
        #"{"fingerprint":["{{ default }}","x",3,true,null,{"a":1}],"message":"m"}"#,
        #"{"fingerprint":["checkout-failed"],"exception":[{"type":"E","stacktrace":{"frames":[{"function":"f"}]}}]}"#,
        #"{"fingerprint":["{{ default }}"],"fingerprint2":1,"message":"m 12"}"#,
        #"{"fingerprint":[],"message":"m"}"#, #"{"fingerprint":"x","message":"m"}"#,
        #"{"fingerprint":["{{transaction}}","{{ message }}","{{ type }}","{{ error.value }}","{{ function }}","{{ stack.module }}","{{ path }}","{{ stack.filename }}","{{ package }}","{{ level }}","{{ logger }}","{{ tags.Tenant }}","{{ tags.none }}","{{ unknown }}"],"transaction":"/t","logger":"app.\#(String(repeating: "l", count: 80))","level":"warn","tags":{"tenant":"acme"},"exception":[{"type":"E","value":"v 1","stacktrace":{"frames":[{"function":"f","module":"m","abs_path":"/a/b.py","filename":"b.py","package":"/usr/lib/libx.so","in_app":true},{"function":"g"}]}}]}"#,
        #"{"fingerprint":["{{ message }}","{{ function }}","{{ type }}","{{ tags.x }}"],"logentry":{"message":"tmpl %s"},"platform":"python"}"#,
        // Tags as pairs, odd pairs, values of every kind; users of every kind.
        #"{"message":"t","tags":[["a","1"],["b",2],["c"],[3,"x"],["level","fatal"],[" ","y"],["user","u"]],"user":{"username":"ada","ip_address":"{{auto}}","extra":{"x":1}}}"#,
        #"{"message":"t","tags":"nope","user":{"id":12,"email":"X@Y.Z"}}"#,
        #"{"message":"t","tags":null,"user":null}"#,
        #"{"message":"t","user":{"ip_address":"10.0.0.1"},"server_name":""}"#,
        // Event ids of every accepted form.
        #"{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC","message":"id"}"#,
        #"{"event_id":null,"message":"id"}"#,
        // Unread members hold anything (duplicates, deep nesting within the limit, escapes).
        #"{"extra":{"a":1,"a":2,"b":[[[[[[["\u00e9\n"]]]]]]]},"breadcrumbs":[1,2],"contexts":{"os":{"name":"Linux"}},"message":"x\u0041"}"#,
        // Escapes where the fast path decodes whole values (exception type and value, tags, messages).
        #"{"exception":[{"type":"Key\"Error","value":"line one\nline \u00e9","stacktrace":{"frames":[{"function":"f","module":"m"}]}}],"tags":{"k\"":"v\n"}}"#,
    ]

    @Test(arguments: usual.indices)
    func theUsualShapesAreReadFromTheBytesAsTheTreeReadsThem(_ index: Int) {
        for context in Self.contexts {
            let (tree, bytes) = Self.both(Self.usual[index], context)
            #expect(tree != nil)
            #expect(bytes != nil, "the fast path should read this event")
            #expect(bytes == tree)
        }
    }

    /// What the fast path leaves to the tree path: the tree's reading stands (an event, or the request's error).
    static let unusual: [String] = [
        #"{"threads":{"values":[{"crashed":true,"stacktrace":{"frames":[{"function":"f"}]}}]},"message":"m"}"#,
        #"{"stacktrace":{"frames":[{"function":"f"}]}}"#,
        // Threads where the exceptions leave grouping or the crash frame to them.
        #"{"exception":[{"type":"E","value":"v"}],"threads":[{"crashed":true,"stacktrace":{"frames":[{"function":"f"}]}}]}"#,
        #"{"exception":[{"type":"E","stacktrace":{"frames":[{"function":"f"}]}},{"type":"F"}],"threads":[{"crashed":true,"stacktrace":{"frames":[{"function":"g"}]}}]}"#,
        #"{"message":"a","message":"b"}"#,
        #"{"exception":[{"type":"E","type":"F"}]}"#,
        #"{"exception":[{"stacktrace":{"frames":[{"function":"f","function":"g"}]}}]}"#,
        #"{"exception":[{"stacktrace":{"frames":[{"function":"f","lineno":NaN}]}}]}"#,
        #"{"exception":[{"stacktrace":{"frames":[{"function":{"name":"f"}}]}}]}"#,
        #"{"exception":{"values":[],"values":[{"type":"E"}]}}"#,
        #"{"event_id":"not an id","message":"m"}"#,
        #"{"event_id":42,"message":"m"}"#,
        #"["not","an","object"]"#,
        #"{"message":"m"} trailing"#,
        #"{"message":"unterminated"#,
        #"{"extra":\#(String(repeating: "[", count: 200))\#(String(repeating: "]", count: 200))}"#,
        // More frames than the bytes path reads (each costs it a frame's tokens however small the object), in one
        // exception or over two.
        stack(EventNormalizer.maxFramesFromBytes + 1),
        #"{"exception":[{"stacktrace":{"frames":[\#(frames(2))]}},"#
            + #"{"type":"E","stacktrace":{"frames":[\#(frames(EventNormalizer.maxFramesFromBytes - 1))]}}]}"#,
    ]

    /// An event whose one exception has a stack of `count` frames.
    static func stack(_ count: Int) -> String {
        #"{"exception":[{"type":"E","stacktrace":{"frames":[\#(frames(count))]}}]}"#
    }

    /// `count` frame objects, the last in-app: a stack the tree groups.
    static func frames(_ count: Int) -> String {
        (Array(repeating: "{}", count: max(count - 1, 0)) + [#"{"function":"f","in_app":true}"#]).joined(separator: ",")
    }

    /// A stack of exactly ``EventNormalizer/maxFramesFromBytes`` frames is still read from the bytes, as the tree
    /// reads it; one frame more is left to the tree (above), which still stores the event.
    @Test func theLongestStackReadFromBytesReadsAsTheTreeDoes() {
        let (tree, bytes) = Self.both(Self.stack(EventNormalizer.maxFramesFromBytes), Self.contexts[0])
        #expect(tree != nil)
        #expect(bytes == tree)
        #expect(Self.both(Self.stack(EventNormalizer.maxFramesFromBytes + 1), Self.contexts[0]).tree != nil)
    }

    @Test(arguments: unusual.indices)
    func unusualShapesAreLeftToTheTree(_ index: Int) {
        for context in [Self.contexts[0], Self.contexts[2]] {
            let (_, bytes) = Self.both(Self.unusual[index], context)
            #expect(bytes == nil)
        }
    }

    /// Invalid UTF-8 (each bad sequence decoded as U+FFFD, as the tree decodes it): two frames whose names differ
    /// only in their bad bytes are one frame repeated for both readings.
    @Test func invalidUTF8IsRepairedAlike() {
        var bytes = Array(#"{"platform":"python","exception":[{"type":"E","stacktrace":{"frames":[{"function":"f"#.utf8)
        bytes += [0xFF] + Array(#"","module":"m"},{"function":"f"#.utf8) + [0xFE]
        bytes += Array(#"","module":"m"},{"function":"g\#u{E9}","module":"m","in_app":true}]}}]}"#.utf8)
        let context = Self.contexts[0]
        let tree = try? EventNormalizer().normalize(JSONParser.parse(bytes), context: context)
        let direct = EventNormalizer().normalize(json: bytes, context: context)
        #expect(tree != nil && direct != nil)
        if let tree, let direct { #expect(Self.derived(direct, withID: false) == Self.derived(tree, withID: false)) }
        #expect(tree?.hashes == direct?.hashes)
    }
}
