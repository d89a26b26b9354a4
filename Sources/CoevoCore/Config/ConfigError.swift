/// A config problem, naming the field (as a dotted path, e.g. `workers.slots`) and what is
/// wrong with it, so the user can fix it without reading code.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String {
        field.isEmpty ? "config: \(problem)" : "config field '\(field)': \(problem)"
    }
}

/// Decoding helpers shared by the config sections: defaults for missing keys, and an error
/// for keys nobody reads (a typo would otherwise silently fall back to a default).
struct AnyConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer {
    /// The field's value, or `fallback` when the config leaves it out.
    func value<T: Decodable>(_ key: Key, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }

    /// A field naming one case of `E` (`fallback` when left out); an unknown name is an
    /// error listing the names there are.
    func choice<E: RawRepresentable & CaseIterable>(_ key: Key, _ fallback: E, noun: String, field: String) throws -> E
    where E.RawValue == String {
        try ConfigError.choice(try value(key, fallback.rawValue), noun: noun, field: field)
    }
}

extension ConfigError {
    /// The case of `E` that `name` names, or an error naming the field and the choices.
    static func choice<E: RawRepresentable & CaseIterable>(_ name: String, noun: String, field: String) throws -> E
    where E.RawValue == String {
        guard let chosen = E(rawValue: name) else {
            throw ConfigError(field: field, problem: "unknown \(noun) '\(name)' (expected one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return chosen
    }
}

extension Decoder {
    func rejectUnknownKeys<Key: CodingKey & CaseIterable>(_: Key.Type) throws {
        let known = Set(Key.allCases.map(\.stringValue))
        let container = try container(keyedBy: AnyConfigKey.self)
        for key in container.allKeys where !known.contains(key.stringValue) {
            let path = (codingPath + [key]).map(\.stringValue).joined(separator: ".")
            let expected = known.sorted().joined(separator: ", ")
            throw ConfigError(field: path, problem: "unknown field (expected one of: \(expected))")
        }
    }
}
