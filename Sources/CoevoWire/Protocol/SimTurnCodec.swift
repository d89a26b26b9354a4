import CoevoCore
import Foundation
import SwiftProtobuf

/// `sim.turn` job payloads and outputs: the chamber's `TurnRequest` on the wire.
public enum SimTurnCodec {

    public static func encode(_ r: TurnRequest, parameters p: SimulatedWorld.Parameters) -> Data {
        var m = Coevo_Wire_V1_SimTurnRequest()
        m.worldSeed = r.worldSeed
        m.task = Int64(r.task)
        m.round = Int32(r.round)
        m.member = Int32(r.member)
        m.agent = Int64(r.agent)
        m.action = r.action.rawValue
        m.niche = Int32(r.niche)
        m.difficulty = r.difficulty
        m.correctAnswer = r.correctAnswer
        m.skill = r.skill
        m.gap = r.gap
        m.mode = Int32(r.mode)
        m.insightLessons = r.insightLessons.map(Int32.init)
        m.sharedMemory = r.sharedMemory
        m.ownAnswer = r.ownAnswer
        m.othersAnswers = r.othersAnswers
        m.critique = r.critique
        m.count = Int32(r.count)
        var q = Coevo_Wire_V1_SimParameters()
        q.nicheSpread = p.nicheSpread
        q.agentSpread = p.agentSpread
        q.forkMutation = p.forkMutation
        q.difficultySpread = p.difficultySpread
        q.steepness = p.steepness
        q.insightWeight = p.insightWeight
        q.lessonsPerNiche = Int32(p.lessonsPerNiche)
        q.falseAlarm = p.falseAlarm
        q.modes = Int32(p.modes)
        q.gapSpread = p.gapSpread
        q.wrongShare = p.wrongShare
        q.distraction = p.distraction
        q.lengthPenalty = p.lengthPenalty
        q.middleLoss = p.middleLoss
        q.correlation = p.correlation
        q.conformity = p.conformity
        q.insightTokens = Int32(p.insightTokens)
        m.parameters = q
        return try! m.serializedData()
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func decodeRequest(_ data: Data) throws -> (TurnRequest, SimulatedWorld.Parameters) {
        let m: Coevo_Wire_V1_SimTurnRequest
        do { m = try Coevo_Wire_V1_SimTurnRequest(serializedBytes: data) } catch {
            throw DecodingError(description: "sim.turn payload is not a SimTurnRequest (\(data.count) bytes)")
        }
        guard let action = TurnAction(rawValue: m.action) else {
            throw DecodingError(description: "sim.turn payload has unknown action '\(m.action)'")
        }
        var p = SimulatedWorld.Parameters()
        p.nicheSpread = m.parameters.nicheSpread
        p.agentSpread = m.parameters.agentSpread
        p.forkMutation = m.parameters.forkMutation
        p.difficultySpread = m.parameters.difficultySpread
        p.steepness = m.parameters.steepness
        p.insightWeight = m.parameters.insightWeight
        p.lessonsPerNiche = max(1, Int(m.parameters.lessonsPerNiche))
        p.falseAlarm = m.parameters.falseAlarm
        p.modes = max(1, Int(m.parameters.modes))
        p.gapSpread = m.parameters.gapSpread
        p.wrongShare = m.parameters.wrongShare
        p.distraction = m.parameters.distraction
        p.lengthPenalty = m.parameters.lengthPenalty
        p.middleLoss = m.parameters.middleLoss
        p.correlation = m.parameters.correlation
        p.conformity = m.parameters.conformity
        p.insightTokens = max(0, Int(m.parameters.insightTokens))
        let request = TurnRequest(
            worldSeed: m.worldSeed, task: Int(m.task), round: Int(m.round), member: Int(m.member), agent: Int(m.agent),
            action: action, niche: Int(m.niche), difficulty: m.difficulty, correctAnswer: m.correctAnswer,
            skill: m.skill, gap: m.gap, mode: max(0, Int(m.mode)), insightLessons: m.insightLessons.map { max(0, Int($0)) },
            sharedMemory: m.sharedMemory, ownAnswer: m.ownAnswer,
            othersAnswers: m.othersAnswers, critique: m.critique, count: Int(m.count))
        return (request, p)
    }

    public static func encode(_ result: TurnResult) -> Data {
        var m = Coevo_Wire_V1_SimTurnResult()
        m.text = result.text
        m.tokens = Int64(result.tokens)
        return try! m.serializedData()
    }

    public static func decodeResult(_ data: Data) throws -> TurnResult {
        do {
            let m = try Coevo_Wire_V1_SimTurnResult(serializedBytes: data)
            return TurnResult(text: m.text, tokens: Int(m.tokens))
        } catch {
            throw DecodingError(description: "sim.turn output is not a SimTurnResult (\(data.count) bytes)")
        }
    }
}
