using System.Net;
using System.Text;
using CleanEnergy.Data;
using CleanEnergy.Devices;
using CleanEnergy.Vendor;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace CleanEnergy.Tests;

/// <summary>Importing the vendor's device list: texts longer than the columns (PostgreSQL enforces them) are cut, an id that does not fit is skipped.</summary>
public abstract class DeviceCatalogTests(PostgresServer? postgres) : EnergyDatabaseTests(postgres)
{
    [Fact]
    public async Task Over_long_vendor_texts_are_cut_to_their_columns_and_a_device_whose_id_does_not_fit_is_skipped()
    {
        await using var app = await StartAppAsync();
        var before = (await app.DevicesAsync()).Count;
        var list = $$"""
            [
              {"vendorId": "long-1", "name": "{{new string('n', 150)}}", "kind": "{{new string('k', 80)}}", "location": "{{new string('l', 120)}}", "online": true, "on": false, "powerW": 0},
              {"vendorId": "{{new string('i', 101)}}", "name": "too long an id", "kind": "plug", "location": "", "online": true, "on": false, "powerW": 0}
            ]
            """;
        using var http = new HttpClient(new Answer(list)) { BaseAddress = new Uri("http://vendor.test/") };
        var services = app.Host.Services;
        var vendor = new VendorClient(http, services.GetRequiredService<IDbContextFactory<EnergyDb>>(), TimeProvider.System, NullLogger<VendorClient>.Instance);

        var (scope, db) = app.Db();
        await using (scope)
        {
            var added = await new DeviceCatalog(db, vendor, TimeProvider.System, NullLogger<DeviceCatalog>.Instance).SyncAsync(CancellationToken.None);
            Assert.Equal(1, added);
        }

        var devices = await app.DevicesAsync();
        Assert.Equal(before + 1, devices.Count);
        var imported = Assert.Single(devices, d => d.VendorId == "long-1");
        Assert.Equal((100, 100, 50), (imported.Name.Length, imported.Location.Length, imported.Kind.Length));
        Assert.DoesNotContain(devices, d => d.Name == "too long an id");
    }

    private sealed class Answer(string json) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
    }
}

public sealed class SqliteDeviceCatalogTests() : DeviceCatalogTests(null);

[Collection(PostgresCollection.Name)]
public sealed class PostgresDeviceCatalogTests(PostgresServer postgres) : DeviceCatalogTests(postgres);
