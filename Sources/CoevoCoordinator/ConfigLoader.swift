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

    /// `readingFiles: false` leaves the files a config names unread (a reader of a stored
    /// run's settings, away from where the run started).
    public static func parse(_ text: String, readingFiles: Bool = true) throws(ConfigError) -> ExperimentConfig {
        var config: ExperimentConfig
        // Nothing but comments is the embedded defaults too (how a run started without a
        // config stores its config).
        if text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }).allSatisfy({ $0.isEmpty || $0.hasPrefix("#") }) {
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
        if !readingFiles {
            try config.validate()
            return config
        }
        if let file = config.redBlue?.intentsFile {
            config.redBlue!.externalIntents = try readIntents(file)
        }
        try config.validate()
        if let task = config.discovery?.task {
            config.discovery!.seedFiles = try readDirectory(task.seed, field: "discovery.task.seed")
            config.discovery!.graderFiles = try readDirectory(task.grader, field: "discovery.task.grader")
            if task.description.isEmpty {
                guard let readme = config.discovery!.seedFiles.first(where: { $0.path == "TASK.md" }) else {
                    throw ConfigError(field: "discovery.task.description", problem: "required when the seed directory has no TASK.md")
                }
                config.discovery!.task.description = String(decoding: readme.data, as: UTF8.self)
            }
            try checkApart(seed: task.seed, grader: task.grader)
            if let input = task.candidateInput, !config.discovery!.graderFiles.contains(where: { $0.path == input }) {
                throw ConfigError(field: "discovery.task.candidate_input",
                                  problem: "'\(input)' is not a file of the grader directory \(task.grader) (a path relative to it)")
            }
        }
        return config
    }

    /// The config text with `change` applied to its YAML tree (a benchmark's variants of a
    /// user's config: another seed, database or agent group), checked by parsing it back.
    public static func variant(of text: String, _ change: (inout [String: Any]) -> Void) throws -> String {
        var tree = (try Yams.load(yaml: text) as? [String: Any]) ?? [:]
        change(&tree)
        let changed = try Yams.dump(object: tree)
        _ = try parse(changed, readingFiles: false)
        return changed
    }

    /// Every regular file under `path` (relative paths, sorted; `.git` left out), read once
    /// here so that a missing directory is a config error before anything starts.
    private static func readDirectory(_ path: String, field: String) throws(ConfigError) -> [DiscoveryFile] {
        let root = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError(field: field, problem: "'\(path)' is not a directory (paths are relative to where coevo runs)")
        }
        var files: [DiscoveryFile] = []
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            let relative = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            if relative == ".git" || relative.hasPrefix(".git/") || relative == ".coevo" || relative.hasPrefix(".coevo/") { continue }
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw ConfigError(field: field, problem: "cannot read '\(url.path)'")
            }
            files.append(DiscoveryFile(path: relative, data: data))
        }
        guard !files.isEmpty else { throw ConfigError(field: field, problem: "'\(path)' has no files") }
        return files.sorted { $0.path < $1.path }
    }

    /// The grader's directory must not be inside the seed (its files would reach the agents).
    private static func checkApart(seed: String, grader: String) throws(ConfigError) {
        let a = URL(fileURLWithPath: seed).standardizedFileURL.path + "/"
        let b = URL(fileURLWithPath: grader).standardizedFileURL.path + "/"
        if a.hasPrefix(b) || b.hasPrefix(a) {
            throw ConfigError(field: "discovery.task.grader", problem: "must not contain or be inside the seed directory: the agents would see the grader's files")
        }
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
