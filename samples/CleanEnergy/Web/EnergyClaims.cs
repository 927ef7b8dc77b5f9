using System.Security.Claims;
using CleanEnergy.Data;

namespace CleanEnergy.Web;

/// <summary>What the login cookie says about the user: id, user name and display name.</summary>
internal static class EnergyClaims
{
    /// <summary>The claim type of the display name (the user name is <see cref="ClaimTypes.Name"/>).</summary>
    public const string DisplayNameType = "display_name";

    public static ClaimsPrincipal Principal(User user) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, user.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new Claim(ClaimTypes.Name, user.UserName),
        new Claim(DisplayNameType, user.DisplayName),
    ], Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationDefaults.AuthenticationScheme));

    public static int? UserId(ClaimsPrincipal user) =>
        int.TryParse(user.FindFirstValue(ClaimTypes.NameIdentifier), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;

    public static string UserName(ClaimsPrincipal user) => user.Identity?.Name ?? "";

    public static string DisplayName(ClaimsPrincipal user) => user.FindFirstValue(DisplayNameType) is { Length: > 0 } name ? name : UserName(user);
}
