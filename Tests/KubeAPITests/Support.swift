import Foundation
import Testing

@testable import KubeAPI

/// Decodes YAML text as a file named `name`.
func decode(_ yaml: String, name: String = "my-pod.yaml") -> ManifestFile {
    ManifestDecoder().decode(yaml, fileName: name)
}

/// The single pod of a manifest that must decode cleanly.
func decodePod(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Pod {
    let file = decode(yaml)
    #expect(file.errorMessages == [], sourceLocation: sourceLocation)
    let object = try #require(file.objects.first, sourceLocation: sourceLocation)
    guard case .pod(let pod) = object else {
        Issue.record("not a pod", sourceLocation: sourceLocation)
        throw CancellationError()
    }
    return pod
}

/// A pod manifest with one container `c` (image nginx:1.25) whose container body gets `extra` appended
/// (indented for the container map) and `spec` lines appended to the pod spec.
func podYAML(container extra: String = "", spec: String = "", metadata: String = "") -> String {
    var yaml = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: p
        """
    for line in metadata.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
        yaml += "\n  " + line
    }
    yaml += """

        spec:
          containers:
          - name: c
            image: nginx:1.25
        """
    for line in extra.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
        yaml += "\n    " + line
    }
    for line in spec.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
        yaml += "\n  " + line
    }
    return yaml + "\n"
}
