using CleanEnergy.Contracts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace CleanEnergy.Replica.Data;

/// <summary>
/// The replica's own database (SQLite, <c>data/replica.db</c> by default): the users as the master last published
/// them. Tables and columns are snake_case; times are UTC <see cref="DateTime"/>s.
/// </summary>
internal sealed class ReplicaDb(DbContextOptions<ReplicaDb> options) : DbContext(options)
{
    public DbSet<ReplicaUser> Users => Set<ReplicaUser>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite hands DateTimes back as Unspecified: they are all UTC.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ReplicaUser>(e =>
        {
            e.ToTable("users");
            // The master's id: assigned there, never here.
            e.Property(u => u.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(u => u.UserName).HasColumnName("user_name").HasMaxLength(UserChanged.UserNameMaxLength);
            e.Property(u => u.DisplayName).HasColumnName("display_name").HasMaxLength(UserChanged.DisplayNameMaxLength);
            e.Property(u => u.Email).HasColumnName("email").HasMaxLength(UserChanged.EmailMaxLength);
            e.Property(u => u.Version).HasColumnName("version");
            e.Property(u => u.UpdatedAt).HasColumnName("updated_at");
            e.Property(u => u.DeletedAt).HasColumnName("deleted_at");
            e.Property(u => u.ReplicatedAt).HasColumnName("replicated_at");
            // Not unique: a tombstone keeps its last name, and renames arriving out of order may hold a name twice for a moment.
            e.HasIndex(u => u.UserName);
        });
    }

    private sealed class UtcConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}

/// <summary>
/// A user as replicated from the master. A deleted user stays as a tombstone (<see cref="DeletedAt"/> set, with the
/// delete's version), so that an older upsert arriving late (a retry, a redelivery) cannot bring the user back.
/// </summary>
internal sealed class ReplicaUser
{
    /// <summary>The user's id in the master app.</summary>
    public int Id { get; set; }

    public string UserName { get; set; } = "";

    public string DisplayName { get; set; } = "";

    public string Email { get; set; } = "";

    /// <summary>The master's version of the change stored here; only a higher version replaces it.</summary>
    public long Version { get; set; }

    /// <summary>When the master made that change (UTC).</summary>
    public DateTime UpdatedAt { get; set; }

    /// <summary>When the master deleted the user (UTC); null while the user exists.</summary>
    public DateTime? DeletedAt { get; set; }

    /// <summary>When this replica stored the change (UTC).</summary>
    public DateTime ReplicatedAt { get; set; }

    public bool IsDeleted => DeletedAt is not null;
}
