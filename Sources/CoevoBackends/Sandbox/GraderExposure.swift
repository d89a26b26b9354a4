import Foundation
import Glibc

/// Whether a task's grader directory on this machine could be read by an agent sandboxed
/// here: it is shown to every sandbox when it lies under a directory the sandboxes see
/// (the system's, `--sandbox-ro`), and then readable to an agent's user id when it or a
/// file in it lets others read. Elsewhere the sandbox does not show it at all.
public enum GraderExposure {
    /// Why the grader directory `path` is exposed, naming the path and the fix; nil when it is not.
    public static func problem(grader path: String, shown: [String]) -> String? {
        let grader = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let under = (SandboxView.system + shown).first(where: { grader == $0 || grader.hasPrefix($0 + "/") }) else { return nil }
        let enumerator = FileManager.default.enumerator(atPath: grader)
        for relative in [""] + ((enumerator?.allObjects as? [String]) ?? []) {
            let file = relative.isEmpty ? grader : grader + "/" + relative
            var info = stat()
            guard lstat(file, &info) == 0, info.st_mode & S_IROTH != 0 else { continue }
            return """
                the grader directory \(grader) is under \(under), which every agent's sandbox shows, and \(file) \
                can be read by any user: agents could read the grader. Move the task out of \(under), or \
                run `chmod -R o-rwx \(grader)`
                """
        }
        return nil
    }
}
