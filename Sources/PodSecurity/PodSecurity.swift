// The PodSecurity module: what a pod's security settings mean on this node (issue 6).
//
// Entry points (called by the agent when it admits a pod and builds a container's config.json)
//   PodSecurityStandards.level(for:defaultLevel:namespaceLabels:)   --pod-security + namespace enforce label
//   PodSecurityStandards.check(_:level:)                            reject before anything runs (Forbidden)
//   Sysctls.admit(pod:allowedUnsafe:)                               kubelet sysctl admission (SysctlForbidden)
//   EffectiveSecurity.resolve(pod:container:imageUser:options:lookupUser:)  merge + kubelet checks
//                                                                    (CreateContainerConfigError / CreateContainerError)
//   EffectiveSecurity.apply(to:)                                    one call onto the container's OCI spec
//   EffectiveSecurity.warnings                                      fields not honoured here (Warning events)
//   VolumeOwnership.apply(fsGroup:to:readOnly:changePolicy:)        fsGroup on a writable volume before start
//   Diagnosis(_:)                                                   explanation + fix for `agentctl diagnose`
//
// Decisions
// - Messages are kubelet's and pod-security-admission's verbatim; the pod in runAsNonRoot messages is kubelet's
//   `format.Pod` (`name_namespace(uid)`), see kubelet.md §4.2.
// - "All capabilities" (privileged, `add: [ALL]`) means the capabilities the agent holds (containerd's
//   WithAllCurrentCapabilities): a capability the agent lacks cannot be granted (capset fails with EPERM).
// - Privileged containers get no seccomp, no masked/readonly paths, writable /sys and /sys/fs/cgroup, no cgroup
//   namespace, the host's devices and an allow-all device cgroup (containerd WithPrivileged).
// - Pod sysctls are admitted against kubelet's safe set (all 14 names, no kernel-version gate) plus
//   `--allowed-unsafe-sysctls`; Pod Security Standards use the same 14 for the baseline check.
