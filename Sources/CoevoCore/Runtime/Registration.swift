/// The scheduler's answer to a READY.
public enum Registration: Hashable, Sendable {
    /// A worker id seen for the first time.
    case accepted
    /// The same process (same session) registered again, e.g. after a reconnect; its
    /// leases stay valid.
    case resumed
    /// A new process took over the id of a process that had gone quiet; what the old one
    /// held was requeued (see the events).
    case replaced([SchedulerEvent])
    /// Another live process already uses this id; the newcomer is refused.
    case duplicate
}
