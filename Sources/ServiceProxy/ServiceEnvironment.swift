import Foundation
import KubeAPI

/// kubelet's service environment variables (pkg/kubelet/envvars `FromServices`): for each Service with a ClusterIP,
/// `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORTNAME>` per named port, then the Docker link
/// variables `<NAME>_PORT` (first port) and `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]` per port.
public enum ServiceEnvironment {
    public static func variables(of service: Service) -> [(name: String, value: String)] {
        guard let clusterIP = service.spec.clusterIP, !clusterIP.isEmpty, clusterIP != "None", let ports = service.spec.ports, let first = ports.first
        else { return [] }
        let prefix = (service.metadata.name ?? "").replacingOccurrences(of: "-", with: "_").uppercased()
        var out: [(name: String, value: String)] = [(prefix + "_SERVICE_HOST", clusterIP), (prefix + "_SERVICE_PORT", String(first.port))]
        for port in ports {
            if let name = port.name, !name.isEmpty {
                out.append((prefix + "_SERVICE_PORT_" + name.replacingOccurrences(of: "-", with: "_").uppercased(), String(port.port)))
            }
        }
        // Docker link variables; the first port also gets the bare `<NAME>_PORT`.
        for (index, port) in ports.enumerated() {
            let proto = port.protocol.flatMap { $0.isEmpty ? nil : $0 } ?? "TCP"
            let url = "\(proto.lowercased())://\(clusterIP):\(port.port)"
            if index == 0 { out.append((prefix + "_PORT", url)) }
            let portPrefix = "\(prefix)_PORT_\(port.port)_\(proto.uppercased())"
            out += [
                (portPrefix, url), (portPrefix + "_PROTO", proto.lowercased()), (portPrefix + "_PORT", String(port.port)),
                (portPrefix + "_ADDR", clusterIP),
            ]
        }
        return out
    }
}
