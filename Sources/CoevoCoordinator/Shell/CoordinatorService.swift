import CoevoCore
import CoevoStore
import CoevoWire
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The coordinator process's shell: a ROUTER socket, the store and the clock around a
/// `CoordinatorStateMachine`. It decodes frames, feeds them with the time to the state
/// machine and carries out the directives it returns; it decides nothing itself. On
/// start it loads every unfinished run from the store, then serves workers until
/// shutdown or, with `exitWhenDone`, until every run is finished and durable.
public final class CoordinatorService: Service, Sendable {
    public let settings: CoordinatorSettings
    let store: CoevoStore
    let logger: Logger
    let observer: CoordinatorObserver
    /// Random per process; workers see it change when the coordinator restarts.
    public let session = String(UInt64.random(in: .min ... .max), radix: 16)
    private let loop: SocketLoop<CoordinatorInput>
    private let boundEndpoint: BoundEndpoint
    private let zap = Mutex<ZapHandler?>(nil)

    /// The endpoint actually bound, after `bind()` (resolves a `tcp://host:*` port).
    public var endpoint: String { boundEndpoint.value.withLock { $0 } }

    public init(settings: CoordinatorSettings, store: CoevoStore, logger: Logger,
                observer: CoordinatorObserver = CoordinatorObserver()) {
        self.settings = settings
        self.store = store
        self.logger = logger
        self.observer = observer
        let bind = settings.bind
        // A peer sends its results in batches, so a few frames per peer are ever in
        // flight; 10,000 queued from one peer is a flood, and it waits in the sender's
        // queue, not in this process (FloodTests: 100,000 let 4 flooding peers park up to
        // 400,000 frames here).
        let options = SocketOptions(receiveHighWaterMark: 10_000, maxMessageBytes: settings.maxMessageBytes,
                                    curve: settings.curve.map { .server($0.keyPair) })
        let boundEndpoint = BoundEndpoint()
        self.boundEndpoint = boundEndpoint
        loop = SocketLoop(name: "coevo-coordinator-zmq", monitorTransport: true) {
            let socket = try ZMQSocket.router(binding: bind, options: options)
            boundEndpoint.value.withLock { $0 = socket.lastEndpoint() }
            return socket
        }
    }

    /// Binds the socket. Separate from `run()` so a bad address fails before anything else
    /// starts (and so `coevo run` knows workers can connect). Call it once, before `run()`.
    /// With CURVE the ZAP handler starts first: libzmq lets every client in when none is bound.
    public func bind() throws {
        if let curve = settings.curve {
            let logger = self.logger
            let handler = try ZapHandler(path: curve.authorizedKeys) { logger.warning("\($0)") }
            try handler.start()
            zap.withLock { $0 = handler }
            logger.info("CURVE on: coordinator key \(curve.keyPair.publicKey), \(handler.authorizedCount) authorized key(s) from \(curve.authorizedKeys ?? "memory")")
        }
        try loop.start()
    }

    /// Lets a key in that no file lists (the local workers of `coevo run`). Call after `bind()`.
    public func authorize(_ key: CurvePublicKey, holder: String) {
        zap.withLock { $0?.allow(key, holder: holder) }
    }

    public func run() async throws {
        let (settings, session, loop, store, logger, observer, zap) = (self.settings, self.session, self.loop, self.store,
                                                                       self.logger, self.observer, self.zap.withLock { $0 })
        store.writer.onError { logger.error("\($0)") }
        try await withGracefulShutdownHandler {
            let ids = try store.reserveJobIDs(RunBook.jobIDBlock)
            var claims: [WorkerID: CurvePublicKey] = [:]
            for (worker, key) in try store.workerClaims() {
                if let key = CurvePublicKey(key) { claims[WorkerID(worker)] = key }
            }
            let machine = CoordinatorStateMachine(settings: settings, session: session, runs: try ServedRun.load(from: store),
                                                  jobIDs: ids, claims: claims)
            // The shell runs on the socket's thread (see `SocketLoop`).
            var shell = CoordinatorShell(machine: machine, loop: loop, store: store, logger: logger, observer: observer, zap: zap)
            loop.post(.start)
            await loop.serve { shell.handle($0) }
        } onGracefulShutdown: {
            loop.post(.shutdown)
        }
        loop.stop()
        store.writer.flush()
        zap?.stop()
    }

    /// Decodes what the socket delivered: the one place frames become typed messages.
    static func input(_ event: SocketLoop<CoordinatorInput>.Event) -> CoordinatorInput {
        switch event {
        case .posted(let input): return input
        case .messages(let batch):
            return .received(batch.map { message in
                let frames = message.frames
                let routing = frames[0]
                guard frames.count == 2 else { return .malformed(from: routing, .frameCount(frames.count - 1)) }
                do throws(WireDecodingError) {
                    return .message(from: routing, key: message.peerKey.flatMap(CurvePublicKey.init),
                                    WorkerMessage(try WireCodec.decode(frames[1])))
                } catch {
                    return .malformed(from: routing, .undecodable(error))
                }
            })
        case .tick: return .tick
        case .unroutable(let routing): return .unroutable(routing)
        case .transport(let line): return .transport(line)
        case .socketError(let line): return .socketError(line)
        }
    }
}

/// Written by the socket thread when it binds, read by anyone after `bind()`.
final class BoundEndpoint: Sendable {
    let value = Mutex("")
}

/// Carries out the state machine's directives; runs on the socket loop's thread.
struct CoordinatorShell {
    var machine: CoordinatorStateMachine
    let loop: SocketLoop<CoordinatorInput>
    let store: CoevoStore
    let logger: Logger
    let observer: CoordinatorObserver
    /// Polled on ticks so a key withdrawn from the allow-list drops its worker.
    let zap: ZapHandler?
    private var keysGeneration = 0
    private var durableReported: UInt64 = 0
    private var behindReported = false
    private var failureReported = false
    private var exiting = false
    /// Set when a directive could not be carried out safely: nothing more is.
    private var halted = false

    init(machine: CoordinatorStateMachine, loop: SocketLoop<CoordinatorInput>, store: CoevoStore, logger: Logger, observer: CoordinatorObserver,
         zap: ZapHandler? = nil) {
        self.zap = zap
        self.machine = machine
        self.loop = loop
        self.store = store
        self.logger = logger
        self.observer = observer
    }

    /// Handles one event of the socket loop (the first posted is `.start`); false once the
    /// state machine has said to exit.
    mutating func handle(_ event: SocketLoop<CoordinatorInput>.Event) -> Bool {
        let input = CoordinatorService.input(event)
        if case .start = input {
            feed(input)
            return !exiting
        }
        let durable = store.writer.durableResults
        let backlog = store.writer.backlog
        let behind = backlog >= machine.settings.storeBacklogLimit
        if durable != durableReported || behind != behindReported {
            durableReported = durable
            behindReported = behind
            feed(.storeCommitted(durableResults: durable, backlog: backlog))
        }
        if !failureReported, let failure = store.writer.failure {
            failureReported = true
            feed(.storeFailed(failure))
            if exiting { return false }
        }
        if case .tick = input, let zap, let changed = zap.changes(since: keysGeneration) {
            keysGeneration = changed.generation
            feed(.authorizedKeys(Set(changed.keys.holders.keys)))
        }
        feed(input)
        return !exiting
    }

    private static func now() -> CoordinatorTime {
        CoordinatorTime(monotonic: .now(), wall: Date().timeIntervalSince1970)
    }

    private mutating func feed(_ input: CoordinatorInput) {
        var outgoing: [[Data]] = []
        perform(machine.handle(input, at: Self.now()), outgoing: &outgoing)
        loop.send(batch: outgoing)
    }

    private mutating func perform(_ directives: [CoordinatorDirective], outgoing: inout [[Data]]) {
        for directive in directives {
            if halted { return }
            switch directive {
            case .send(let routing, let message):
                outgoing.append([routing, WireCodec.encode(Envelope.OneOf_Body(message))])
            case .store(let mutations):
                store.writer.enqueue(contentsOf: mutations)
            case .flushStore:
                store.writer.flush()
            case .notice(let notice):
                logger.log(level: notice.level, "\(notice)")
            case .reserveJobIDs(let ceiling):
                do {
                    try store.raiseJobIDCeiling(to: ceiling)
                } catch {
                    // Leasing ids the store has not reserved could give one id to two jobs
                    // after a crash: stop instead, before anything after this goes out.
                    logger.critical("cannot reserve job ids in \(store.path): \(error); stopping so that no id is handed out twice (running jobs are requeued on the next start)")
                    exiting = true
                    halted = true
                }
            case .writeExports(let run, let directory, let files):
                let failure = ExportFiles.write(files, to: directory)
                perform(machine.handle(.exportsWritten(run, failure: failure), at: Self.now()), outgoing: &outgoing)
            case .observe(let observation):
                observer.notify(observation)
            case .wake(let time):
                loop.wake(at: time)
            case .exit:
                exiting = true
            }
        }
    }
}
