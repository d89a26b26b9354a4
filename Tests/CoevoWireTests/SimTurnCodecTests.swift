import CoevoCore
import CoevoWire
import Foundation
import Testing

/// Bad input tried: a payload that is not a SimTurnRequest, an unknown action, an output
/// that is not a SimTurnResult.
@Suite struct SimTurnCodecTests {
    @Test func aTurnCrossesTheWireUnchanged() throws {
        let request = TurnRequest(worldSeed: 9, task: 12, round: 1, member: 2, agent: 33, action: .revise, niche: 3,
                                  difficulty: -0.25, correctAnswer: "answer-12", skill: 0.7, gap: 0.4, mode: 2,
                                  insightLessons: [5, 2, 8], sharedMemory: 0.5,
                                  ownAnswer: "wrong-2", othersAnswers: ["answer-12", "wrong-1"], critique: "", count: 0)
        var parameters = SimulatedWorld.Parameters()
        parameters.steepness = 2.5
        parameters.modes = 4
        parameters.conformity = 0.35
        parameters.insightTokens = 55
        let (decoded, p) = try SimTurnCodec.decodeRequest(SimTurnCodec.encode(request, parameters: parameters))
        #expect(decoded == request)
        #expect(p == parameters)
        // The same request gives the same result wherever it runs.
        #expect(SimulatedWorld.execute(decoded, parameters: p) == SimulatedWorld.execute(request, parameters: parameters))
        let result = TurnResult(text: "niche 3 lesson 4", tokens: 400)
        #expect(try SimTurnCodec.decodeResult(SimTurnCodec.encode(result)) == result)
    }

    @Test func garbageIsRefusedWithAReason() throws {
        #expect(throws: SimTurnCodec.DecodingError.self) { try SimTurnCodec.decodeRequest(Data([0xff, 0xfe, 0x01])) }
        var bad = Coevo_Wire_V1_SimTurnRequest()
        bad.action = "dance"
        do {
            _ = try SimTurnCodec.decodeRequest(try bad.serializedData())
            Issue.record("an unknown action was accepted")
        } catch {
            #expect("\(error)".contains("unknown action 'dance'"))
        }
        #expect(throws: SimTurnCodec.DecodingError.self) { try SimTurnCodec.decodeResult(Data([0xff, 0xff, 0xff])) }
    }
}
