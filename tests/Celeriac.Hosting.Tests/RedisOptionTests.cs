using Celeriac.Hosting.CommandLine;

namespace Celeriac.Hosting.Tests;

[Collection(RedisEnvironment.Collection)]
public sealed class RedisOptionTests
{
    [Fact]
    public void Redis_option_sets_the_environment_override_and_is_removed_from_the_arguments()
    {
        var before = Environment.GetEnvironmentVariable(CeleriacCommandLine.RedisEnvironmentVariable);
        try
        {
            Assert.Equal(["worker", "-c", "4"], CeleriacCommandLine.ApplyRedisOption(["--redis", "10.1.2.3:6390", "worker", "-c", "4"]));
            Assert.Equal("10.1.2.3:6390", Environment.GetEnvironmentVariable(CeleriacCommandLine.RedisEnvironmentVariable));
            Assert.Equal(["inspect"], CeleriacCommandLine.ApplyRedisOption(["inspect", "--redis=127.0.0.1:7000,password=x"]));
            Assert.Equal("127.0.0.1:7000,password=x", Environment.GetEnvironmentVariable(CeleriacCommandLine.RedisEnvironmentVariable));
            Assert.Throws<UsageException>(() => CeleriacCommandLine.ApplyRedisOption(["worker", "--redis"]));
            Assert.Throws<UsageException>(() => CeleriacCommandLine.ApplyRedisOption(["--redis", "-c"]));
        }
        finally
        {
            Environment.SetEnvironmentVariable(CeleriacCommandLine.RedisEnvironmentVariable, before);
        }
    }

    [Fact]
    public async Task A_missing_redis_value_is_a_usage_error()
    {
        await using var app = new CliApp();
        var run = await app.RunAsync("worker", "--redis");
        Assert.Equal(CeleriacExitCodes.UsageError, run.ExitCode);
        Assert.Contains("--redis needs a Redis configuration string", run.Err, StringComparison.Ordinal);
    }
}
