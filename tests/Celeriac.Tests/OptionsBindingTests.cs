using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Celeriac.Tests;

public sealed class OptionsBindingTests
{
    [Fact]
    public void Worker_queues_from_configuration_replace_the_default()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Celeriac:Worker:Queues:0"] = "io", ["Celeriac:Worker:Concurrency"] = "16" })
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddCeleriac(c => c.UseInMemory());
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<WorkerOptions>>().Value;
        Assert.Equal(["io"], options.Queues);
        Assert.Equal(16, options.Concurrency);
    }

    [Fact]
    public void Invalid_options_are_refused_at_start()
    {
        var services = new ServiceCollection();
        services.AddCeleriac(c => c.UseInMemory().ConfigureWorker(o => o.Concurrency = 0));
        using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<WorkerOptions>>().Value);
        Assert.Contains("Concurrency", e.Message, StringComparison.Ordinal);
    }
}
