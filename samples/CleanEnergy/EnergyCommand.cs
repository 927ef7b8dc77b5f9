namespace CleanEnergy;

/// <summary>
/// Which Celeriac command this process runs (<c>all</c> when none is named), read before the host is built so that
/// Program.cs can decide what to set up: the in-process simulator only for <c>all</c>, the database for the processes
/// that serve or run tasks, the alert forwarding for those that serve the web.
/// </summary>
internal sealed record EnergyCommand(string Name)
{
    private static readonly string[] Known = ["all", "web", "worker", "beat", "call", "inspect", "purge", "revoke", "schedule", "send", "listen", "unsubscribe"];

    public static EnergyCommand Of(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--redis") { i++; continue; }
            if (Known.Contains(args[i], StringComparer.Ordinal)) return new EnergyCommand(args[i]);
        }
        return new EnergyCommand("all");
    }

    public bool IsAll => Name == "all";

    /// <summary>Whether this process serves HTTP (and so WebSocket groups' members).</summary>
    public bool ServesWeb => Name is "all" or "web";

    /// <summary>Whether this process runs tasks.</summary>
    public bool RunsTasks => Name is "all" or "worker";

    /// <summary>Whether this process reads or writes the application's database at all.</summary>
    public bool NeedsData => Name is "all" or "web" or "worker";
}
