import Foundation
import Testing

/// docs/PROTOCOL.md promises a verbatim copy of the schema; this keeps the promise.
@Suite struct ProtocolDocumentTests {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theDocumentCarriesTheCurrentSchema() throws {
        let schema = try String(contentsOf: root.appendingPathComponent("Proto/coevo_wire.proto"), encoding: .utf8)
        let document = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        #expect(document.contains("```proto\n" + schema + "```"), "docs/PROTOCOL.md section 8 is out of date: paste Proto/coevo_wire.proto there")
    }
}
