namespace CleanEnergy.VendorCloud.Grid;

/// <summary><c>GET /api/v1/grid/intensity</c>: the grid signal (the override is in <c>/admin/grid</c>).</summary>
internal static class GridEndpoints
{
    public static void MapGridEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/grid/intensity", (GridControl grid) => Results.Ok(grid.Read()));
}
