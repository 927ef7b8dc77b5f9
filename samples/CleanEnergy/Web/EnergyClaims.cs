using System.Security.Claims;
using CleanEnergy.Data;

namespace CleanEnergy.Web;

/// <summary>What the login cookie says about the user: id, user name, display name and, for operators, the <c>ops</c> role.</summary>
internal static class EnergyClaims
{
    /// <summary>The role (and the authorization policy of the same name) that opens the operations dashboard.</summary>
    public const string OpsRole = "ops";

    /// <summary>The claim type of the display name (the user name is <see cref="ClaimTypes.Name"/>).</summary>
    public const string DisplayNameType = "display_name";

    public static ClaimsPrincipal Principal(User user, bool isOperator)
    {
        List<Claim> claims =
        [
            new Claim(ClaimTypes.NameIdentifier, user.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, user.UserName),
            new Claim(DisplayNameType, user.DisplayName),
        ];
        if (isOperator) claims.Add(new Claim(ClaimTypes.Role, OpsRole));
        return new(new ClaimsIdentity(claims, Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationDefaults.AuthenticationScheme));
    }

    public static int? UserId(ClaimsPrincipal user) =>
        int.TryParse(user.FindFirstValue(ClaimTypes.NameIdentifier), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;

    public static string UserName(ClaimsPrincipal user) => user.Identity?.Name ?? "";

    public static string DisplayName(ClaimsPrincipal user) => user.FindFirstValue(DisplayNameType) is { Length: > 0 } name ? name : UserName(user);
}
