using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace CleanEnergy.Data;

/// <summary>
/// The application's data: devices, observations, vendor interactions, hourly aggregates and users. Tables and columns
/// are snake_case on every provider, so the few hand-written statements (<see cref="ObservationStore"/>) read the
/// same on SQLite and PostgreSQL. Times are UTC <see cref="DateTime"/>s (SQLite keeps them as sortable text).
/// </summary>
internal sealed class EnergyDb(DbContextOptions<EnergyDb> options) : DbContext(options)
{
    public DbSet<Device> Devices => Set<Device>();
    public DbSet<Observation> Observations => Set<Observation>();
    public DbSet<Interaction> Interactions => Set<Interaction>();
    public DbSet<HourlyAggregate> HourlyAggregates => Set<HourlyAggregate>();
    public DbSet<User> Users => Set<User>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Every DateTime (and DateTime?) is UTC: SQLite hands them back as Unspecified, Npgsql's timestamptz wants Kind=Utc.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Device>(e =>
        {
            e.ToTable("devices");
            e.Property(d => d.Name).HasMaxLength(Device.NameMaxLength);
            e.Property(d => d.Location).HasMaxLength(Device.LocationMaxLength);
            e.Property(d => d.VendorId).HasMaxLength(Device.VendorIdMaxLength);
            e.Property(d => d.Kind).HasMaxLength(Device.KindMaxLength);
            e.HasIndex(d => d.VendorId).IsUnique();
        });
        modelBuilder.Entity<Observation>(e =>
        {
            e.ToTable("observations");
            e.Property(o => o.Source).HasMaxLength(50);
            e.Property(o => o.Name).HasMaxLength(50);
            e.Property(o => o.Kind).HasConversion(KindConverter).HasMaxLength(10);
            e.HasOne<Device>().WithMany().HasForeignKey(o => o.DeviceId).OnDelete(DeleteBehavior.Cascade);
            // The idempotency key: one reading per series and time. Also serves "latest value of a series".
            e.HasIndex(o => new { o.Source, o.Name, o.Time }).IsUnique();
            e.HasIndex(o => new { o.DeviceId, o.Time });
            e.HasIndex(o => o.Time);
        });
        modelBuilder.Entity<Interaction>(e =>
        {
            e.ToTable("interactions");
            e.Property(i => i.Operation).HasMaxLength(50);
            e.Property(i => i.Outcome).HasMaxLength(20);
            e.Property(i => i.Error).HasMaxLength(500);
            e.HasOne<Device>().WithMany().HasForeignKey(i => i.DeviceId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(i => new { i.DeviceId, i.At });
            e.HasIndex(i => i.At);
        });
        modelBuilder.Entity<HourlyAggregate>(e =>
        {
            e.ToTable("hourly_aggregates");
            e.Property(a => a.Source).HasMaxLength(50);
            e.Property(a => a.Name).HasMaxLength(50);
            e.HasOne<Device>().WithMany().HasForeignKey(a => a.DeviceId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(a => new { a.Source, a.Name, a.Hour }).IsUnique();
            e.HasIndex(a => new { a.DeviceId, a.Hour });
        });
        modelBuilder.Entity<User>(e =>
        {
            e.ToTable("users");
            e.Property(u => u.UserName).HasMaxLength(User.UserNameMaxLength);
            e.Property(u => u.DisplayName).HasMaxLength(User.DisplayNameMaxLength);
            e.Property(u => u.Email).HasMaxLength(User.EmailMaxLength);
            // Two edits at once must not both become version n + 1 (the replica keeps the newest version it saw):
            // the later save fails with DbUpdateConcurrencyException instead.
            e.Property(u => u.Version).IsConcurrencyToken();
            e.HasIndex(u => u.UserName).IsUnique();
        });

        foreach (var entity in modelBuilder.Model.GetEntityTypes())
            foreach (var property in entity.GetProperties())
                property.SetColumnName(SnakeCase(property.Name));
    }

    private static readonly ValueConverter<ObservationKind, string> KindConverter = new(
        k => KindName(k),
        s => ParseKind(s));

    /// <summary>The stored name of a kind: <c>number</c>, <c>onoff</c>, <c>text</c>, <c>choice</c>.</summary>
    public static string KindName(ObservationKind kind) => kind switch
    {
        ObservationKind.Number => "number",
        ObservationKind.OnOff => "onoff",
        ObservationKind.Text => "text",
        ObservationKind.Choice => "choice",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Parses a kind name (as stored, or as the vendor API spells it).</summary>
    public static ObservationKind ParseKind(string name) => name switch
    {
        "number" => ObservationKind.Number,
        "onoff" => ObservationKind.OnOff,
        "text" => ObservationKind.Text,
        "choice" => ObservationKind.Choice,
        _ => throw new FormatException($"Unknown observation kind '{name}'."),
    };

    internal static string SnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) text.Append('_');
            text.Append(char.ToLowerInvariant(name[i]));
        }
        return text.ToString();
    }

    private sealed class UtcConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.ToUniversalTime(), DateTimeKind.Utc),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}
