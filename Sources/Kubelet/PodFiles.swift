import Foundation
import KubeAPI
import OCISpec

/// The per-pod /etc/hosts, /etc/hostname and /etc/resolv.conf, written in the pod directory and
/// bind-mounted into every container (kubelet's makeMounts for hosts; the runtime's for the other two).
enum PodFiles {
    static let clusterDomain = "cluster.local"

    static func hostsPath(_ podDirectory: String) -> String { podDirectory + "/etc-hosts" }
    static func hostnamePath(_ podDirectory: String) -> String { podDirectory + "/etc-hostname" }
    static func resolvPath(_ podDirectory: String) -> String { podDirectory + "/resolv.conf" }

    /// kubelet's managedHostsFileContent / nodeHostsFileContent (kubelet_pods.go).
    static func hosts(_ pod: Pod, podIPs: [String], nodeHosts: String?) -> String {
        var text: String
        if pod.spec.hostNetwork == true {
            text = "# Kubernetes-managed hosts file (host network).\n" + (nodeHosts ?? "")
            if !text.hasSuffix("\n") { text += "\n" }
        } else {
            text = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            text += "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            let hostname = BundleBuilder.hostname(pod)
            let subdomain = pod.spec.subdomain ?? ""
            for ip in podIPs {
                if subdomain.isEmpty {
                    text += "\(ip)\t\(hostname)\n"
                } else {
                    text += "\(ip)\t\(hostname).\(subdomain).\(pod.metadata.namespace ?? "default").svc.\(clusterDomain)\t\(hostname)\n"
                }
            }
        }
        let aliases = pod.spec.hostAliases ?? []
        if !aliases.isEmpty {
            text += "\n# Entries added by HostAliases.\n"
            for alias in aliases { text += "\(alias.ip ?? "")\t\((alias.hostnames ?? []).joined(separator: "\t"))\n" }
        }
        return text
    }

    struct ResolvConf: Equatable {
        var nameservers: [String] = []
        var searches: [String] = []
        var options: [String] = []

        /// glibc's reading: `nameserver` lines accumulate, the last `search`/`domain` wins, `options` accumulate.
        static func parse(_ text: String) -> ResolvConf {
            var conf = ResolvConf()
            for line in text.split(separator: "\n") {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard let key = fields.first, !key.hasPrefix("#"), !key.hasPrefix(";") else { continue }
                switch key {
                case "nameserver": if fields.count > 1 { conf.nameservers.append(fields[1]) }
                case "search", "domain": conf.searches = Array(fields.dropFirst())
                case "options": conf.options += fields.dropFirst()
                default: continue
                }
            }
            return conf
        }

        /// containerd's resolv.conf text.
        var text: String {
            var out = ""
            if !searches.isEmpty { out += "search \(searches.joined(separator: " "))\n" }
            for server in nameservers { out += "nameserver \(server)\n" }
            if !options.isEmpty { out += "options \(options.joined(separator: " "))\n" }
            return out
        }
    }

    /// kubelet's dns.go without a cluster DNS: ClusterFirst (and ClusterFirstWithHostNet) fall back to the
    /// node's resolv.conf; None uses only dnsConfig; dnsConfig is merged as appendDNSConfig does.
    static func resolvConf(_ pod: Pod, node: String) -> ResolvConf {
        var conf = pod.spec.dnsPolicy == "None" ? ResolvConf() : ResolvConf.parse(node)
        if let config = pod.spec.dnsConfig {
            conf.nameservers = unique(conf.nameservers + (config.nameservers ?? []))
            conf.searches = unique(conf.searches + (config.searches ?? []))
            // Pod options override node options of the same name.
            var merged: [(name: String, value: String?)] = []
            for option in conf.options {
                let parts = option.split(separator: ":", maxSplits: 1).map(String.init)
                merged.append((parts[0], parts.count > 1 ? parts[1] : nil))
            }
            for option in config.options ?? [] {
                guard let name = option.name, !name.isEmpty else { continue }
                merged.removeAll { $0.name == name }
                merged.append((name, option.value))
            }
            conf.options = merged.map { option in option.value.map { "\(option.name):\($0)" } ?? option.name }
        }
        return conf
    }

    static func unique(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        return values.filter { seen.insert($0).inserted }
    }

    /// kubelet's MissingClusterDNS warning (dns.go names ClusterFirst whichever cluster policy the pod has),
    /// or nil when the pod's policy needs no cluster DNS.
    static func missingClusterDNS(_ pod: Pod, description: String) -> String? {
        let policy = pod.spec.dnsPolicy ?? "ClusterFirst"
        let needsCluster = policy == "ClusterFirstWithHostNet" || (policy == "ClusterFirst" && pod.spec.hostNetwork != true)
        guard needsCluster else { return nil }
        return "pod: \"\(description)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. "
            + "Falling back to \"Default\" policy."
    }

    static func write(_ pod: Pod, podDirectory: String, podIPs: [String]) throws(ContainerConfigError) {
        let nodeHosts = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        let nodeResolv = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        let files = [
            (hostsPath(podDirectory), hosts(pod, podIPs: podIPs, nodeHosts: nodeHosts)), (hostnamePath(podDirectory), BundleBuilder.hostname(pod) + "\n"),
            (resolvPath(podDirectory), resolvConf(pod, node: nodeResolv).text),
        ]
        for (path, text) in files {
            do {
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                chmod(path, 0o644)
            } catch {
                throw ContainerConfigError(message: "writing \(path): \(error)")
            }
        }
    }

    /// The bind mounts; a container mounting its own /etc/hosts keeps it (kubelet's rule).
    static func mounts(podDirectory: String, container: Container) -> [OCI.Mount] {
        let own = Set((container.volumeMounts ?? []).map(\.mountPath))
        return [("/etc/hosts", hostsPath(podDirectory)), ("/etc/hostname", hostnamePath(podDirectory)), ("/etc/resolv.conf", resolvPath(podDirectory))]
            .filter { !own.contains($0.0) && FileManager.default.fileExists(atPath: $0.1) }
            .map { OCI.Mount(destination: $0.0, type: "bind", source: $0.1, options: ["rbind", "rprivate", "rw"]) }
    }
}
