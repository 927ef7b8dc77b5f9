using CleanEnergy.Devices;
using CleanEnergy.Users;
using CleanEnergy.Vendor;

namespace CleanEnergy.Data;

/// <summary>
/// Makes the database ready at start: the schema (<see cref="EnergyDatabase.EnsureCreatedAsync"/>), the demo users
/// <c>alice</c> and <c>bob</c> (password <c>demo</c>) and the devices of the vendor's cloud. Safe to run in every
/// process at once: each step is idempotent.
/// </summary>
internal sealed partial class EnergySetup(IServiceScopeFactory scopes, ILogger<EnergySetup> logger)
{
    public const string DemoPassword = "demo";

    /// <param name="importDevices">Whether to import the vendor's devices now (processes that run no tasks need not).</param>
    /// <param name="cancellationToken">Stops it.</param>
    public async Task RunAsync(bool importDevices, CancellationToken cancellationToken)
    {
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<EnergyDb>();
            await EnergyDatabase.EnsureCreatedAsync(db, cancellationToken);
            var users = scope.ServiceProvider.GetRequiredService<UserService>();
            if (await users.SeedAsync("alice", "Alice Demo", "alice@example.com", DemoPassword, cancellationToken)) LogSeededUser("alice");
            if (await users.SeedAsync("bob", "Bob Demo", "bob@example.com", DemoPassword, cancellationToken)) LogSeededUser("bob");
        }
        if (!importDevices) return;

        // The vendor may be flaky (that is the point of the demo): a few quick tries, then leave it to devices.poll_all,
        // which imports the devices itself while there are none.
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            await using var scope = scopes.CreateAsyncScope();
            try
            {
                await scope.ServiceProvider.GetRequiredService<DeviceCatalog>().SyncAsync(cancellationToken);
                return;
            }
            catch (Exception e) when (VendorErrors.IsTransient(e) && attempt < 5)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken);
            }
            catch (Exception e) when (VendorErrors.IsTransient(e))
            {
                LogImportFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Seeded the demo user {UserName} (password 'demo')")]
    private partial void LogSeededUser(string userName);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not import the vendor's devices at start; devices.poll_all will try again")]
    private partial void LogImportFailed(Exception exception);
}
