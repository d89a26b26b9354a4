/// Names for the generated protobuf types (Proto/coevo_wire.proto), so shells read as
/// the protocol document does.
public typealias Envelope = Coevo_Wire_V1_Envelope
public typealias ReadyMessage = Coevo_Wire_V1_Ready
public typealias WelcomeMessage = Coevo_Wire_V1_Welcome
public typealias HeartbeatMessage = Coevo_Wire_V1_Heartbeat
public typealias LeaseMessage = Coevo_Wire_V1_Lease
public typealias JobBatchMessage = Coevo_Wire_V1_JobBatch
public typealias ResultMessage = Coevo_Wire_V1_Result
public typealias ResultBatchMessage = Coevo_Wire_V1_ResultBatch
public typealias CancelMessage = Coevo_Wire_V1_Cancel
public typealias DisconnectMessage = Coevo_Wire_V1_Disconnect
public typealias ErrorMessage = Coevo_Wire_V1_Error
public typealias WireErrorCode = Coevo_Wire_V1_ErrorCode
public typealias StatusRequestMessage = Coevo_Wire_V1_StatusRequest
public typealias StatusReplyMessage = Coevo_Wire_V1_StatusReply

/// Constants of the wire protocol (docs/PROTOCOL.md).
public enum WireProtocol {
    /// Carried in every envelope; peers refuse any other value.
    public static let version: UInt32 = 1
}
