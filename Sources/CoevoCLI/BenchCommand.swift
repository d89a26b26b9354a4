import ArgumentParser

/// `coevo bench`: benchmarks that print their figures.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures (run them on a release build).",
        subcommands: [])
    public init() {}
}
