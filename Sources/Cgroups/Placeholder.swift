// Implementations arrive with the cgroups work.
