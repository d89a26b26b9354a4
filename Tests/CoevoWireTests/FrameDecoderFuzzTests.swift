import CoevoCore
import CoevoWire
import Foundation
import Testing

/// A seeded mutation fuzzer over the frame decoder, the first code every byte from the
/// network reaches (libFuzzer's approach without its toolchain: Swift's
/// `-sanitize=fuzzer` needs a separate build, so the same loop runs in the test suite).
/// Seeds: a valid envelope of every message a peer may send. Mutations: bit flips, byte
/// overwrites, truncations, insertions, duplicated spans, splices of two seeds, and
/// random bytes. Each input must decode to a message or fail with a `WireDecodingError`
/// (typed throws: nothing else can escape), and what decodes must survive a round trip.
@Suite struct FrameDecoderFuzzTests {
    static var seeds: [Data] {
        var ready = ReadyMessage()
        ready.workerID = "w-1"
        ready.session = "abc"
        ready.slots = 8
        ready.capabilities = ["llm.chat", "noop"]
        var results = ResultBatchMessage()
        results.results = (1...3).map { ResultMessage(job: JobID($0), attempt: 1, outcome: JobOutcome(status: .succeeded, output: Data("{\"x\":1}".utf8))) }
        var jobs = JobBatchMessage()
        jobs.leases = [LeaseMessage(Lease(job: Job(id: 9, run: "r", kind: .sleep, payload: Data([1, 2]), timeoutMilliseconds: 10), worker: "w", attempt: 1, deadline: .zero))]
        var goodbye = DisconnectMessage()
        goodbye.reason = "done"
        let bodies: [Envelope.OneOf_Body] = [
            .ready(ready), .heartbeat(HeartbeatMessage()), .results(results), .jobs(jobs), .disconnect(goodbye),
            .statusRequest(StatusRequestMessage()),
        ]
        return bodies.map(WireCodec.encode)
    }

    static func mutate(_ seeds: [Data], using rng: inout SeededGenerator) -> Data {
        var data = seeds[Int(rng.next() % UInt64(seeds.count))]
        for _ in 0...(rng.next() % 4) {
            let at = data.isEmpty ? 0 : Int(rng.next() % UInt64(data.count))
            switch rng.next() % 7 {
            case 0 where !data.isEmpty: data[at] ^= UInt8(1 << (rng.next() % 8))
            case 1 where !data.isEmpty: data[at] = UInt8(truncatingIfNeeded: rng.next())
            case 2: data = data.prefix(at)
            case 3: data.insert(contentsOf: (0..<Int(rng.next() % 8 + 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 4 where !data.isEmpty: data.insert(contentsOf: data[at..<min(data.count, at + Int(rng.next() % 16 + 1))], at: at)
            case 5:
                let other = seeds[Int(rng.next() % UInt64(seeds.count))]
                data = data.prefix(at) + other.suffix(from: Int(rng.next() % UInt64(other.count + 1)))
            default: data = Data((0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            }
        }
        return data
    }

    @Test func threeHundredThousandMutatedFramesDecodeOrFailCleanly() {
        let seeds = Self.seeds
        var rng = SeededGenerator(seed: 20261201)
        var decoded = 0, refused = 0, unstable = 0
        for _ in 0..<300_000 {
            let frame = Self.mutate(seeds, using: &rng)
            do {
                let body = try WireCodec.decode(frame)
                decoded += 1
                if (try? WireCodec.decode(WireCodec.encode(body))) != body { unstable += 1 }
            } catch {
                refused += 1
            }
        }
        // Both outcomes must be exercised, or the mutations are too weak or too wild.
        #expect(decoded > 10_000 && refused > 10_000, "decoded \(decoded), refused \(refused)")
        #expect(unstable == 0, "\(unstable) decoded frames did not survive a round trip")
    }
}
