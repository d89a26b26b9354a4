import CoevoCore
import Foundation
import Yams

/// Reads a YAML experiment config and turns every problem into a `ConfigError` that names
/// the field, so `coevo` can exit with code 2 and a message the user can act on.
public enum ConfigLoader {
    /// Loads `path`, or the embedded defaults when `path` is nil. Returns the config and
    /// the text it came from (stored with the run, so a resume uses the same settings).
    public static func load(path: String?) throws(ConfigError) -> (ExperimentConfig, text: String) {
        guard let path else {
            return (ExperimentConfig(), "# embedded defaults (an empty config)\n")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(field: "", problem: "cannot read \(path): \(error.localizedDescription)")
        }
        return (try parse(text), text)
    }

    public static func parse(_ text: String) throws(ConfigError) -> ExperimentConfig {
        var config: ExperimentConfig
        if text.allSatisfy({ $0.isWhitespace || $0.isNewline }) {
            config = ExperimentConfig()
        } else {
            do {
                config = try YAMLDecoder().decode(ExperimentConfig.self, from: text)
            } catch let error as ConfigError {
                throw error
            } catch let error as DecodingError {
                throw describe(error)
            } catch {
                throw ConfigError(field: "", problem: "not valid YAML: \(error)")
            }
        }
        if let file = config.redBlue?.intentsFile {
            config.redBlue!.externalIntents = try readIntents(file)
        }
        try config.validate()
        return config
    }

    /// A red-blue `intents_file`, read once here so a broken file is a config error
    /// before anything starts.
    private static func readIntents(_ path: String) throws(ConfigError) -> [RedBlueDomain.Intent] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(field: "red_blue.intents_file", problem: "cannot read '\(path)' (paths are relative to where coevo runs)")
        }
        return try RedBlueDomain.loadIntents(jsonl: text, source: path)
    }

    private static func describe(_ error: DecodingError) -> ConfigError {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return ConfigError(field: path(context), problem: "expected \(readable(type))")
        case .valueNotFound(let type, let context):
            return ConfigError(field: path(context), problem: "missing value (expected \(readable(type)))")
        case .keyNotFound(let key, let context):
            return ConfigError(field: (path(context).isEmpty ? "" : path(context) + ".") + key.stringValue, problem: "required field is missing")
        case .dataCorrupted(let context):
            // Yams wraps what our decoders throw (an unknown field) and its own parser errors.
            if let inner = context.underlyingError as? ConfigError { return inner }
            if let inner = context.underlyingError as? DecodingError { return describe(inner) }
            if let inner = context.underlyingError {
                return ConfigError(field: path(context), problem: "not valid YAML: \(inner)")
            }
            return ConfigError(field: path(context), problem: context.debugDescription)
        @unknown default:
            return ConfigError(field: "", problem: "\(error)")
        }
    }

    private static func readable(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt32.Type, is UInt64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "a mapping of fields"
        }
    }
}
