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
//   Diagnosis(_:)                                                   explanation + fix for `agentctl diagnose`
