import Foundation

/// A migration's SQL cut into statements.
///
/// postgres-nio sends every query with the extended protocol, and a Parse message takes one statement only, so a
/// migration written as one readable script is split here: at each `;` that is outside a string (`'…'`, `E'…'`),
/// a quoted identifier (`"…"`), a dollar-quoted body (`$$…$$`, `$fn$…$fn$`) and a comment (`-- …`, `/* … */`).
/// Comments are kept with the statement that follows them; empty statements are dropped.
enum SQLScript {
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        let characters = Array(script.unicodeScalars)
        var index = 0

        func append(through end: Int) {
            current.unicodeScalars.append(contentsOf: characters[index..<end])
            index = end
        }
        /// The index after the first occurrence of `terminator` at or after `start`, or the end.
        func skip(past terminator: [Unicode.Scalar], from start: Int) -> Int {
            var position = start
            while position + terminator.count <= characters.count {
                if Array(characters[position..<position + terminator.count]) == terminator {
                    return position + terminator.count
                }
                position += 1
            }
            return characters.count
        }

        while index < characters.count {
            let character = characters[index]
            let next: Unicode.Scalar? = index + 1 < characters.count ? characters[index + 1] : nil
            switch character {
            case ";":
                index += 1
                finish(&current, into: &statements)
            case "-" where next == "-":
                append(through: skip(past: ["\n"], from: index))
            case "/" where next == "*":
                append(through: skip(past: ["*", "/"], from: index + 2))
            case "'", "\"":
                // A doubled quote inside ends one quoted run and starts the next: same result.
                append(through: skip(past: [character], from: index + 1))
            case "$":
                if let tag = dollarTag(characters, at: index) {
                    append(through: skip(past: tag, from: index + tag.count))
                } else {
                    append(through: index + 1)
                }
            default:
                append(through: index + 1)
            }
        }
        finish(&current, into: &statements)
        return statements
    }

    /// `$$` or `$tag$` starting at `index`, where a tag is a letter or underscore then letters, digits, underscores.
    private static func dollarTag(_ characters: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var position = index + 1
        while position < characters.count {
            let character = characters[position]
            if character == "$" { return Array(characters[index...position]) }
            let isTagCharacter =
                character == "_" || character.properties.isAlphabetic
                || (position > index + 1 && ("0"..."9").contains(character))
            guard isTagCharacter else { return nil }
            position += 1
        }
        return nil
    }

    private static func finish(_ current: inout String, into statements: inout [String]) {
        let statement = current.trimmingWhitespace()
        current = ""
        // A statement that is only comments is not sent.
        let code = statement.split(separator: "\n").filter { !$0.trimmingWhitespace().hasPrefix("--") }
        if !code.allSatisfy({ $0.trimmingWhitespace().isEmpty }) {
            statements.append(statement)
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> String {
        trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
