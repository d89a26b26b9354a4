import CoevoCore

/// A kind of run whose jobs a driver makes as results come in (an experiment protocol,
/// the chamber, a discovery pool): which configs it takes and how to drive one. A plain
/// batch (`workload`) is what a config is when no kind takes it.
///
/// A new kind is an engine (`RunEngine`, in CoevoCore), a codec (`EngineCodec`) and its
/// `RunKind` in one file of this folder, and one line in `registered`.
struct RunKind: Sendable {
    /// A driver for `run` and a line describing it for the log, or nil when `config` is
    /// not of this kind.
    var drive: @Sendable (_ config: ExperimentConfig, _ run: ServedRun) -> (driver: any RunDriver, description: String)?

    /// Asked in order; the first that takes a config drives it.
    static let registered: [RunKind] = [.chamber, .discovery, .experimentProtocol]

    static func driver(for config: ExperimentConfig, run: ServedRun) -> (driver: any RunDriver, description: String)? {
        for kind in registered {
            if let driven = kind.drive(config, run) { return driven }
        }
        return nil
    }
}
