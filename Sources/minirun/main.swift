// minirun: an OCI runtime with the runc command line. All logic lives in the Runtime library.
import Runtime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

exit(MiniRun.main(Array(CommandLine.arguments.dropFirst())))
