import CoevoTestSupport
import Foundation
import Testing

/// The Kubernetes manifests, validated offline against the Kubernetes API schemas by
/// kubernetes-validate (PyPI, installed by `make test`), strictly: an unknown field is an
/// error. Bad input tried: a misspelt field and a value of the wrong type, which the
/// validator must refuse, naming them.
@Suite struct DeployManifestTests {
    static func validate(_ paths: [String]) throws -> (status: Int32, output: String) {
        try TestSupport.capture(["python3", "-m", "kubernetes_validate", "--strict"] + paths)
    }

    @Test func theManifestsValidateAgainstTheKubernetesSchemas() throws {
        let manifests = ["coevo.yaml", "autoscaler.yaml"].map {
            TestSupport.root.appendingPathComponent("Deploy/kubernetes/\($0)").path
        }
        let (status, output) = try Self.validate(manifests)
        #expect(status == 0, "\(output)")
        for resource in ["service/coevo-coordinator", "statefulset/coevo-coordinator", "deployment/coevo-worker",
                         "networkpolicy/coevo-coordinator", "configmap/coevo-adapter-rules",
                         "horizontalpodautoscaler/coevo-worker"] {
            #expect(output.contains("passed for resource \(resource)"), "\(resource) was validated: \(output)")
        }
    }

    @Test func theValidatorRefusesABrokenManifest() throws {
        let text = try String(contentsOf: TestSupport.root.appendingPathComponent("Deploy/kubernetes/coevo.yaml"), encoding: .utf8)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coevo-k8s-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (old, new, named) in [("replicas: 4", "replicass: 4", "replicass"), ("replicas: 1", "replicas: one", "one")] {
            #expect(text.contains(old))
            let path = directory.appendingPathComponent("broken.yaml").path
            try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
            let (status, output) = try Self.validate([path])
            #expect(status != 0 && output.contains("did not validate") && output.contains(named), "\(output)")
        }
    }
}
