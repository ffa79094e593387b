import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@Suite struct GroupingTests {
    func event(_ json: String) throws -> JSONValue { try JSONParser.parse(json) }

    func pythonFrame(_ function: String, module: String = "__main__", line: String, inApp: Bool = true, lineno: Int = 1) -> String {
        #"{"filename":"client.py","abs_path":"/srv/client.py","function":"\#(function)","module":"\#(module)","lineno":\#(lineno),"context_line":"\#(line)","in_app":\#(inApp)}"#
    }

    @Test func chainedExceptionsContributeStackThenTypeInPayloadOrder() throws {
        let payload = try event(#"""
            {"platform":"python","exception":{"values":[
              {"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":[\#(pythonFrame("outer", line: "        inner(0)")),\#(pythonFrame("inner", line: "    return 1 / x"))]}},
              {"type":"ValueError","value":"bad value 12345","stacktrace":{"frames":[\#(pythonFrame("<module>", line: "    outer()")),\#(pythonFrame("outer", line: "raise ValueError(x)   from e"))]}}]}}
            """#)
        let variants = Grouping.defaultVariants(payload)
        #expect(variants == [[
            "__main__", "outer", "inner(0)", "__main__", "inner", "return 1 / x", "ZeroDivisionError",
            "__main__", "<module>", "outer()", "__main__", "outer", "raise ValueError(x) from e", "ValueError",
        ]])
        // Sentry's hash: MD5 of the values concatenated without separators.
        #expect(Grouping.hashes(for: payload) == [Grouping.hashes(for: payload)[0]])
        #expect(Grouping.hashes(for: payload)[0].count == 32)
    }

    @Test func lineNumbersAndValuesDoNotCountWhenAStackDoes() throws {
        let a = try event(#"{"platform":"python","exception":{"values":[{"type":"E","value":"id 1","stacktrace":{"frames":[\#(pythonFrame("f", line: "x()", lineno: 10))]}}]}}"#)
        let b = try event(#"{"platform":"python","exception":{"values":[{"type":"E","value":"totally different","stacktrace":{"frames":[\#(pythonFrame("f", line: "x()", lineno: 99))]}}]}}"#)
        #expect(Grouping.hashes(for: a) == Grouping.hashes(for: b))
        let other = try event(#"{"platform":"python","exception":{"values":[{"type":"E","value":"id 1","stacktrace":{"frames":[\#(pythonFrame("g", line: "x()"))]}}]}}"#)
        #expect(Grouping.hashes(for: a) != Grouping.hashes(for: other))
    }

    @Test func withoutAStackTheNormalizedValueCounts() throws {
        let a = try event(#"{"exception":{"values":[{"type":"KeyError","value":"user 4711 not found"}]}}"#)
        let b = try event(#"{"exception":{"values":[{"type":"KeyError","value":"user 99 not found"}]}}"#)
        let c = try event(#"{"exception":{"values":[{"type":"KeyError","value":"order 99 not found"}]}}"#)
        #expect(Grouping.defaultVariants(a) == [["KeyError", "user <int> not found"]])
        #expect(Grouping.hashes(for: a) == Grouping.hashes(for: b))
        #expect(Grouping.hashes(for: a) != Grouping.hashes(for: c))
    }

    @Test func onlyInAppFramesCountForTheAppVariant() throws {
        let frames = [pythonFrame("handler", module: "app.views", line: "do()"), pythonFrame("dispatch", module: "django.core", line: "h()", inApp: false)]
        let payload = try event(#"{"platform":"python","exception":{"values":[{"type":"E","stacktrace":{"frames":[\#(frames.joined(separator: ","))]}}]}}"#)
        let variants = Grouping.defaultVariants(payload)
        #expect(variants.count == 2)
        #expect(variants[0] == ["app.views", "handler", "do()", "E"])
        #expect(variants[1] == ["app.views", "handler", "do()", "django.core", "dispatch", "h()", "E"])
        // The same in-app frames under another framework frame: the app hash matches.
        let other = try event(#"{"platform":"python","exception":{"values":[{"type":"E","stacktrace":{"frames":[\#(pythonFrame("handler", module: "app.views", line: "do()")),\#(pythonFrame("run", module: "flask.app", line: "r()", inApp: false))]}}]}}"#)
        #expect(Grouping.hashes(for: payload)[0] == Grouping.hashes(for: other)[0])
        #expect(Grouping.hashes(for: payload)[1] != Grouping.hashes(for: other)[1])
    }

    @Test func withNoInAppFrameAllFramesCount() throws {
        let payload = try event(#"{"platform":"python","exception":{"values":[{"type":"E","value":"v","stacktrace":{"frames":[\#(pythonFrame("lib", module: "requests", line: "s()", inApp: false))]}}]}}"#)
        #expect(Grouping.defaultVariants(payload) == [["requests", "lib", "s()", "E"]])
    }

    @Test func recursionIsSkippedAndFilenamesAreBasenamesLowerCased() throws {
        let frame = #"{"filename":"Sources/App/Handler.SWIFT","function":"recurse()","lineno":3}"#
        let payload = try event(#"{"platform":"native","stacktrace":{"frames":[\#(frame),\#(frame),\#(frame)]}}"#)
        #expect(Grouping.defaultVariants(payload) == [["handler.swift", "recurse"]])
    }

    @Test func contextLinesOnlyForScriptPlatformsAndUpTo120Characters() throws {
        let long = String(repeating: "x", count: 121)
        let js = try event(#"{"platform":"javascript","stacktrace":{"frames":[{"filename":"app.js","function":"Foo.bar","context_line":"  a  =   b "},{"filename":"app.js","function":"g","context_line":"\#(long)"}]}}"#)
        #expect(Grouping.defaultVariants(js) == [["app.js", "bar", "a = b", "app.js", "g"]])
        let java = try event(#"{"platform":"java","stacktrace":{"frames":[{"module":"com.x.Y","function":"run","context_line":"a = b"}]}}"#)
        #expect(Grouping.defaultVariants(java) == [["com.x.Y", "run"]])
    }

    @Test func threadsUseTheCrashedThread() throws {
        let payload = try event(#"""
            {"platform":"native","threads":{"values":[
              {"id":1,"current":true,"stacktrace":{"frames":[{"function":"idle"}]}},
              {"id":2,"crashed":true,"stacktrace":{"frames":[{"function":"boom(int)"}]}}]}}
            """#)
        #expect(Grouping.defaultVariants(payload) == [["boom"]])
    }

    @Test func messagesUseTheTemplateThenTheFormattedText() throws {
        let a = try event(#"{"logentry":{"message":"Failed to process order %s for %s","formatted":"Failed to process order 4711 for bob"}}"#)
        let b = try event(#"{"logentry":{"message":"Failed to process order %s for %s","formatted":"Failed to process order 1 for eve"}}"#)
        #expect(Grouping.hashes(for: a) == Grouping.hashes(for: b))
        let c = try event(#"{"logentry":{"formatted":"Timeout after 30s talking to 10.0.0.7"}}"#)
        #expect(Grouping.defaultVariants(c) == [["Timeout after <duration> talking to <ip>"]])
    }

    @Test func fingerprintsReplaceOrSaltTheDefault() throws {
        let base = #""exception":{"values":[{"type":"DatabaseError","value":"connection refused"}]},"transaction":"/checkout","level":"error","tags":[["tenant","acme"]]"#
        let plain = try event("{\(base)}")
        let replaced = try event(#"{\#(base),"fingerprint":["database-down"]}"#)
        let sameReplaced = try event(#"{"message":"other","fingerprint":["database-down"]}"#)
        #expect(Grouping.hashes(for: replaced) == Grouping.hashes(for: sameReplaced))
        #expect(Grouping.hashes(for: replaced) != Grouping.hashes(for: plain))
        let salted = try event(#"{\#(base),"fingerprint":["{{ default }}","eu"]}"#)
        #expect(Grouping.hashes(for: salted) != Grouping.hashes(for: plain))
        #expect(Grouping.hashes(for: try event(#"{\#(base),"fingerprint":["{{default}}"]}"#)) == Grouping.hashes(for: plain))
        let variables = try event(#"{\#(base),"fingerprint":["{{ type }}","{{ transaction }}","{{ tags.tenant }}","{{ level }}","{{ logger }}","{{ tags.none }}"]}"#)
        let expected = try event(#"{"fingerprint":["DatabaseError","/checkout","acme","error","<no-logger>","<no-value-for-tag-none>"]}"#)
        #expect(Grouping.hashes(for: variables) == Grouping.hashes(for: expected))
    }

    @Test func fingerprintFrameVariablesUseTheCrashFrame() throws {
        let payload = try event(#"{"exception":{"values":[{"type":"E","value":"v","stacktrace":{"frames":[{"function":"main","module":"app","in_app":true},{"function":"lib","module":"vendor","in_app":false}]}}]},"fingerprint":["{{ function }}","{{ module }}","{{ value }}"]}"#)
        #expect(Grouping.hashes(for: payload) == Grouping.hashes(for: try event(#"{"fingerprint":["main","app","v"]}"#)))
    }
}

@Suite struct FunctionNameNormalizerTests {
    @Test(arguments: [
        ("closure #2 in App.Server.handle(request: Request) async throws -> Response", "closure in App.Server.handle"),
        ("implicit closure #1 in App.load()", "implicit closure in App.load"),
        ("generic specialization <Swift.Int> of App.Cache.get<A>(key: A) -> A?", "App.Cache.get"),
        ("@objc App.ViewController.tap(_:)", "App.ViewController.tap"),
        ("partial apply for closure #1 in App.main()", "closure in App.main"),
        ("reabstraction thunk helper from @escaping @callee_guaranteed () -> () to @escaping @callee_unowned () -> ()", "@escaping @callee_guaranteed"),
        ("static App.Config.load(from: Foundation.URL) throws -> App.Config", "App.Config.load"),
        ("ns::Cache<int, std::string>::get(int const&) const", "ns::Cache::get"),
        ("-[AppDelegate application:didFinishLaunchingWithOptions:]", "-[AppDelegate application:didFinishLaunchingWithOptions:]"),
    ])
    func nativeAndSwift(_ raw: String, _ expected: String) {
        #expect(FunctionNameNormalizer.normalize(raw, platform: "native") == expected)
    }

    @Test func otherPlatforms() {
        #expect(FunctionNameNormalizer.normalize("Foo.prototype.bar", platform: "javascript") == "bar")
        #expect(FunctionNameNormalizer.normalize("<anonymous>", platform: "node") == nil)
        #expect(FunctionNameNormalizer.normalize("block (2 levels) in index", platform: "ruby") == "block")
        #expect(FunctionNameNormalizer.normalize("_app_views_home_index_html_erb__3434239_7072", platform: "ruby") == "_app_views_home_index_html_erb")
        #expect(FunctionNameNormalizer.normalize("lambda$main$0", platform: "java") == nil)
        #expect(FunctionNameNormalizer.normalize("handle_request", platform: "python") == "handle_request")
        #expect(FunctionNameNormalizer.normalize("<unknown>", platform: "native") == nil)
    }
}

@Suite struct MessageNormalizerTests {
    @Test func hugeValuesAreCutBeforeNormalizing() {
        let hostile = String(repeating: "a.", count: 500_000) + "\n" + String(repeating: "1:", count: 500_000)
        let normalized = MessageNormalizer.normalize(hostile)
        #expect(normalized.utf8.count <= 1024)
        #expect(MessageNormalizer.normalize(String(repeating: "é", count: 600)).unicodeScalars.allSatisfy { $0 == "é" })
    }

    @Test(arguments: [
        ("bad value 12345 for user 3f2504e0-4f89-11d3-9a0c-0305e82c3301", "bad value <int> for user <uuid>"),
        ("Error with order #1231", "Error with order #<int>"),
        ("mail bob.smith+x@example.co.uk failed", "mail <email> failed"),
        ("GET https://api.example.com/v1/users?id=3 returned 502", "GET <url> returned <int>"),
        ("connect to 192.168.0.12 and fe80::1ff:fe23:4567:890a", "connect to <ip> and <ip>"),
        ("at 2026-11-24T21:25:26.220Z and 2026-11-24", "at <date> and <date>"),
        ("took 350ms then 1.5s", "took <duration> then <duration>"),
        ("ptr 0x7ffee3b0 hash deadbeef12 sha 356a192b7913b04c54574d18c28d46e6395428ab", "ptr <hex> hash <hex> sha <sha1>"),
        ("md5 9e107d9d372bb6826bd81d3542a419d6", "md5 <md5>"),
        ("ratio 0.75 of -3", "ratio <float> of <int>"),
        ("user_42 and v2 stay", "user_42 and v2 stay"),
        ("line one\n\n  \nline two\nline three", "line one\nline two..."),
        ("no numbers here", "no numbers here"),
    ])
    func replacesParameters(_ input: String, _ expected: String) {
        #expect(MessageNormalizer.normalize(input) == expected)
    }

    /// ASCII text takes its lines by bytes: the same lines as by characters, over every mix of newlines (CR LF one
    /// character), whitespace and control characters up to 12 pieces long.
    @Test func asciiLinesAreTheLinesOfCharacters() {
        let pieces = ["a", "1", " ", "\t", "\n", "\r", "\r\n", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1F}", "\u{00}", "x y", "..."]
        var generator = SystemRandomNumberGenerator()
        var texts = pieces + ["", "a\nb", "a\nb\n", "\na\nb", "a\n\nb", "a\r\nb", "a\nb\nc", " a \n b "]
        for _ in 0..<5_000 {
            texts.append((0..<Int.random(in: 0...12, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined())
        }
        for text in texts {
            #expect(MessageNormalizer.keptASCIILines(text) == Array(MessageNormalizer.keptLines(text).utf8), "\(Array(text.utf8))")
        }
        #expect(MessageNormalizer.keptASCIILines("café\nau lait") == nil)
        #expect(MessageNormalizer.normalize("café 12\n\nau lait 3\nx") == "café <int>\nau lait <int>...")
    }
}

@Suite struct IssueSummaryTests {
    @Test func errorsUseTheLastExceptionAndTheCrashFrame() throws {
        let payload = try JSONParser.parse(#"""
            {"exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero"},
             {"type":"ValueError","value":"bad value\nsecond line","stacktrace":{"frames":[
               {"module":"app.main","function":"run","in_app":true},{"module":"app.orders","function":"submit","filename":"orders.py","in_app":true},
               {"module":"lib","function":"helper","in_app":false}]}}]}}
            """#)
        let summary = IssueSummary(event: payload)
        #expect(summary.title == "ValueError: bad value")
        #expect(summary.culprit == "app.orders in submit")
        #expect(summary.type == "error")
        #expect(summary.metadata == ["type": "ValueError", "value": "bad value\nsecond line", "filename": "orders.py", "function": "submit"])
    }

    @Test func messagesAndTransactions() throws {
        let summary = IssueSummary(event: try JSONParser.parse(#"{"logentry":{"formatted":"Hello world\nmore"},"transaction":"/api/orders"}"#))
        #expect(summary.title == "Hello world")
        #expect(summary.culprit == "/api/orders")
        #expect(summary.type == "default")
        #expect(IssueSummary(event: [:]).title == "<unlabeled event>")
        let long = IssueSummary(event: ["exception": ["values": [["type": "E", "value": .string(String(repeating: "v", count: 300))]]]])
        #expect(long.title.count == 103)
    }

    /// A title is the first line that is not empty, as Swift's `split(whereSeparator: \.isNewline)` finds it (ASCII
    /// text is scanned as bytes: LF, VT, FF, CR and CR LF end a line; other text by characters, NEL and U+2028 too).
    @Test(arguments: [
        "plain", "\nlead", "\r\n\r\nCRLF first\r\nsecond", "tail\n", "\u{0B}vt\u{0C}ff", "\n\n\n", "", " spaced \n",
        "caf\u{E9}\u{2028}second", "\u{85}nel first\u{85}x", "tab\tkept\rcr", "\r", "e\u{301}\nx",
    ])
    func titlesAreTheFirstLineThatIsNotEmpty(_ value: String) {
        let expected = value.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let summary = IssueSummary(event: ["exception": ["values": [["type": "E", "value": .string(value)]]]])
        #expect(summary.title == (expected.isEmpty ? "E" : "E: \(expected)"))
        let message = IssueSummary(event: ["logentry": ["formatted": .string(value)]])
        #expect(message.title == (expected.isEmpty ? "<unlabeled event>" : expected.trimmingCharacters(in: .whitespaces)))
    }
}
