/// `SourceMap(json:)`: maps users upload for their JavaScript. A map either fails with an error or yields tokens
/// whose indexes are in range, sorted, and found again by lookup.
enum SourceMapTarget {
    static func run(_ bytes: [UInt8]) {
        guard let map = try? SourceMap(json: bytes) else { return }
        require(map.sourcesContent.count == map.sources.count, "one sourcesContent entry per source")
        for (index, token) in map.tokens.enumerated() {
            require(token.source.map { map.sources.indices.contains($0) } ?? true, "token \(index): source out of range")
            require(token.name.map { map.names.indices.contains($0) } ?? true, "token \(index): name out of range")
            require(token.line >= 0 && token.column >= 0 && token.sourceLine >= 0 && token.sourceColumn >= 0, "token \(index): negative")
            if index > 0 {
                let previous = map.tokens[index - 1]
                require((previous.line, previous.column) <= (token.line, token.column), "token \(index): not sorted")
            }
        }
        for token in map.tokens.prefix(64) {
            let found = map.token(line: token.line, column: token.column)
            require(found.map { ($0.line, $0.column) == (token.line, token.column) } == true, "lookup misses a token")
            _ = map.location(line: token.line, column: token.column + 1)
        }
        _ = map.location(line: Int.max, column: Int.max)
        _ = map.location(line: -1, column: -1)
    }
}
