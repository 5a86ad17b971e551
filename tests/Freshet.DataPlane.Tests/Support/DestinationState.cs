using Freshet.DataPlane.Destinations.DuckDb;

namespace Freshet.DataPlane.Tests.Support;

internal static class DestinationState
{
    public static async Task<long> EpochInDuckDbAsync(string path, Guid pipelineId)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT epoch FROM _freshet_checkpoints WHERE pipeline_id = '{pipelineId}'";
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static async Task<IReadOnlyList<string>> DuckDbColumnsAsync(string path, string table)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = '{table}' AND column_name NOT LIKE '\\_freshet\\_%' ESCAPE '\\' ORDER BY ordinal_position";
        await using var reader = await command.ExecuteReaderAsync();
        var columns = new List<string>();
        while (await reader.ReadAsync())
        {
            columns.Add(reader.GetString(0));
        }

        return columns;
    }
}
