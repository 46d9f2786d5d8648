import AgentAPI
import Foundation

/// `GET /v1/pods/{ns}/{name}/security`: each container's effective security settings and explanations of the
/// pod's security refusals (the agent's `SecurityReport`).
struct SecurityReportBody: Decodable {
    struct Row: Decodable {
        var key: String
        var value: String
    }
    struct ContainerSettings: Decodable {
        var name: String
        var settings: [Row]
    }
    struct Explanation: Decodable {
        var container: String?
        var reason: String
        var message: String
        var explanation: String
        var fix: String
    }
    var containers: [ContainerSettings]
    var diagnoses: [Explanation]

    /// nil when the agent has no report (an older agent, or the pod vanished meanwhile): describe and diagnose
    /// then simply show less.
    static func fetch(_ client: APIClient, namespace: String, name: String) -> SecurityReportBody? {
        try? client.getJSON("/v1/pods/\(namespace)/\(name)/security", as: SecurityReportBody.self, decoder: JSONDecoder())
    }

    func settings(of container: String) -> [Row]? { containers.first { $0.name == container }?.settings }
}
