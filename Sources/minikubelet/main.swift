// minikubelet: the node agent. Turns the manifest directory into running pods.
import ArgumentParser
import Foundation
import Kubelet
import ServiceProxy

@main
struct Minikubelet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minikubelet",
        abstract: "A single-node Kubernetes agent: runs the pods defined in a manifest directory.",
        discussion: """
            Every *.yaml, *.yml and *.json file in --manifests is read (dotfiles and editor leftovers such as \
            x~, #x# and x.swp are ignored); changes are picked up with inotify and by a full re-read every 20 s. \
            Containers run under minirun-shim and keep running if the agent stops; on start the agent adopts them. \
            The local API (HTTP+JSON, /v1/...) listens on --socket, mode 0600, root only; agentctl talks to it.
            """)

    @Option(help: "Directory of pod manifests.")
    var manifests = "/etc/minikubelet"

    @Option(help: "State directory (store, images, pod state, runtime state).")
    var root = "/var/lib/minikubelet"

    @Option(help: "Unix socket of the local API.")
    var socket = "/run/minikubelet/agent.sock"

    @Option(help: "Node name (default: the host name).")
    var nodeName: String?

    @Option(help: "Maximum number of pods admitted.")
    var maxPods = 110

    @Option(help: "OCI runtime (default: minirun next to this binary).")
    var runtimePath: String?

    @Option(help: "Container shim (default: minirun-shim next to this binary).")
    var shimPath: String?

    @Option(help: "Cgroup parent for pods, relative to the agent's own cgroup (pods go to <agent cgroup>/<parent>/pods/<uid>/<container>).")
    var cgroupParent = ""

    @Option(help: "Seconds between full re-reads of the manifest directory.")
    var fileCheckFrequency = 20

    @Option(help: "Directory of the CNI plugin executables.")
    var cniBinDir = "/usr/lib/cni"

    @Option(help: "Directory of CNI network configurations; the network named \"minikubelet\" is used, written as 10-minikubelet.conflist if absent.")
    var cniConfDir = "/etc/cni/net.d"

    @Option(help: "Pod address range of the default CNI configuration (host-local IPAM).")
    var podCidr = "10.88.0.0/16"

    @Option(help: "The node's IP (status.hostIP; default: the default-route interface's address).")
    var nodeIp: String?

    @Option(help: "Pod Security Standards level enforced on every pod: privileged, baseline or restricted.")
    var podSecurity = "baseline"

    @Option(help: "Use the RuntimeDefault seccomp profile for containers that set no seccompProfile (false: Unconfined, kubelet's default).")
    var seccompDefault = true

    @Option(help: "Comma-separated sysctl names (or prefixes ending in *) pods may set beyond kubelet's safe set.")
    var allowedUnsafeSysctls = ""

    @Option(help: "Maximum number of processes in each pod (its cgroup's pids limit, shared by its containers); -1 = unlimited.")
    var podMaxPids = 4096

    @Option(help: "Service proxy mode: iptables or nftables (kube-proxy's layouts).")
    var proxyMode = "iptables"

    @Option(help: "Range of Service ClusterIPs.")
    var serviceCidr = "10.96.0.0/16"

    @Option(help: "Range of Service NodePorts (low-high).")
    var serviceNodePortRange = "30000-32767"

    func validate() throws {
        guard ProxyMode(rawValue: proxyMode) != nil else { throw ValidationError("--proxy-mode must be iptables or nftables, not \"\(proxyMode)\"") }
        guard IPv4CIDR(serviceCidr) != nil else { throw ValidationError("--service-cidr \"\(serviceCidr)\" is not an IPv4 CIDR") }
        guard ServiceSettings.parseRange(serviceNodePortRange) != nil else {
            throw ValidationError("--service-node-port-range \"\(serviceNodePortRange)\" is not a port range like 30000-32767")
        }
        guard NodeSecurityConfig.levels.contains(podSecurity) else {
            throw ValidationError("--pod-security must be one of \(NodeSecurityConfig.levels.joined(separator: ", ")), not \"\(podSecurity)\"")
        }
    }

    func run() async throws {
        // glibc gives each thread that allocates its own arena (up to 8 per core) and rarely returns their free
        // memory; the agent's allocations are small and not contended, and with 100 probed pods two arenas kept
        // RSS about 20 MiB lower (bench/probes.sh).
        Agent.limitMallocArenas(2)
        let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let hostName = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let config = AgentConfig(
            manifests: manifests, root: root, socket: socket, nodeName: (nodeName ?? hostName).lowercased(), maxPods: maxPods,
            runtimePath: runtimePath ?? binDirectory + "/minirun", shimPath: shimPath ?? binDirectory + "/minirun-shim", cgroupParent: cgroupParent,
            fileCheckInterval: .seconds(max(1, fileCheckFrequency)),
            network: NetworkSettings(cniBinDir: cniBinDir, cniConfDir: cniConfDir, podCIDR: podCidr, nodeIP: nodeIp),
            security: NodeSecurityConfig(
                podSecurity: podSecurity, seccompDefault: seccompDefault,
                allowedUnsafeSysctls: allowedUnsafeSysctls.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                podMaxPids: Int64(podMaxPids)),
            services: ServiceSettings(
                proxyMode: ProxyMode(rawValue: proxyMode) ?? .iptables, serviceCIDR: serviceCidr,
                nodePortRange: ServiceSettings.parseRange(serviceNodePortRange) ?? 30000...32767))
        // A closed stdout/stderr reader must not kill the agent.
        signal(SIGPIPE, SIG_IGN)
        do {
            let agent = try Agent(config: config)
            try await agent.run()
        } catch {
            FileHandle.standardError.write(Data("minikubelet: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
