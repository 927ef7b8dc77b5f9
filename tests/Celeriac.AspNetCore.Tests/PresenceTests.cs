using Celeriac.Operations;
using Microsoft.Extensions.DependencyInjection;

namespace Celeriac.AspNetCore.Tests;

/// <summary>A web process's heartbeat: the <c>web</c> role and its WebSocket groups with their local member counts.</summary>
public sealed class PresenceTests
{
    [Fact]
    public async Task The_heartbeat_of_a_web_process_has_the_web_role_and_its_groups_with_member_counts()
    {
        await using var app = await TestApp.StartAsync(a => a.MapConsumer<CommandConsumer>("/ws/cmd"),
            services => services.Configure<PresenceOptions>(o => o.Interval = TimeSpan.FromMilliseconds(100)));
        await using var a = await app.ConnectAsync("/ws/cmd?group=lobby");
        await using var b = await app.ConnectAsync("/ws/cmd?group=lobby");
        await using var c = await app.ConnectAsync("/ws/cmd?group=room2");
        var control = app.App.Services.GetRequiredService<IWorkerControl>();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        ProcessInfo? info = null;
        while (info is null)
        {
            if (await control.GetProcessesAsync() is [var p] && p.Roles.Contains("web") && p.Groups.GetValueOrDefault("lobby") == 2 && p.Groups.GetValueOrDefault("room2") == 1)
                info = p;
            else if (DateTime.UtcNow > deadline) throw new TimeoutException("The heartbeat never showed the web role and both groups.");
            else await Task.Delay(20);
        }
        Assert.Equal(2, info.Groups.Count);
    }
}
