namespace Celeriac;

/// <summary>Settings of one dashboard mounted with <c>MapCeleriacDashboard</c>.</summary>
public sealed class DashboardOptions
{
    /// <summary>The name shown in the top bar and the window title. Default <c>Celeriac</c>.</summary>
    public string Title { get; set; } = "Celeriac";

    /// <summary>Hides every action (requeue, delete, purge, pause, stop, …) and answers their POSTs with 403. Default false.</summary>
    public bool ReadOnly { get; set; }
}
