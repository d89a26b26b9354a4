import ArgumentParser
import CoevoWire
import Foundation

/// `coevo keys generate NAME`: CurveZMQ key pairs for coordinators, workers and clients.
public struct KeysCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make CURVE key pairs: the coordinator's, and one per worker or client.",
        discussion: """
            A cluster reachable from other machines runs with CURVE: every connection is \
            encrypted, the coordinator lets in only the public keys in its authorized_keys, \
            and workers refuse any coordinator but the one whose public key they pin.
              coevo keys generate coordinator --dir keys
              coevo keys generate worker-1 --dir keys/workers     # one per worker node
            then coordinator.curve_key: keys/coordinator.key and coordinator.authorized_keys: \
            keys/workers in the config, and on each worker node
              coevo-worker --connect tcp://HEAD:5555 --coordinator-key keys/coordinator.pub --key keys/workers/worker-1.key
            """,
        subcommands: [Generate.self])

    public init() {}

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write NAME.key (the key pair, mode 0600: keep it private) and NAME.pub (its public key).")

        @Argument(help: "Name of the holder, e.g. coordinator or worker-1.")
        var name: String

        @Option(name: .long, help: "Directory for the two files.")
        var dir = "keys"

        func validate() throws {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ValidationError("NAME may hold letters, digits, '-', '_' and '.' only (got '\(name)')")
            }
        }

        func run() throws {
            do {
                let pair = try CurveKeyPair.generate()
                let (keyFile, publicFile) = try pair.write(name: name, directory: dir)
                print("wrote \(keyFile) (private) and \(publicFile)")
                print("public key: \(pair.publicKey)")
            } catch let error as CurveKeyError {
                throw UserFacingError(error.description)
            }
        }
    }
}

/// The CURVE options a worker or client takes: the coordinator's public key it pins,
/// and its own key pair.
struct CurveClientOptions: ParsableArguments {
    @Option(name: .long, help: "The coordinator's CURVE public key (40 characters, written --coordinator-key=KEY when it begins with -; or a .pub or .key file): turns CURVE on and refuses any other coordinator.")
    var coordinatorKey: String?

    @Option(name: .long, help: "This peer's CURVE key pair file (coevo keys generate); its public key must be in the coordinator's authorized_keys.")
    var key: String?

    func validate() throws {
        guard (coordinatorKey == nil) == (key == nil) else {
            throw ValidationError("--coordinator-key and --key go together: the coordinator's public key, and this peer's key pair")
        }
    }

    /// The client role, or nil without CURVE; errors name the file at fault.
    func role() throws -> CurveRole? {
        guard let coordinatorKey, let key else { return nil }
        do {
            return .client(server: try curvePublicKey(coordinatorKey), own: try CurveKeyPair(file: key))
        } catch let error as CurveKeyError {
            throw UserFacingError(error.description)
        }
    }
}
