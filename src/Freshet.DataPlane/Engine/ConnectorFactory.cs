using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.BigQuery;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Destinations.Postgres;
using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.DataPlane.Sources;
using Freshet.DataPlane.Sources.MySql;
using Freshet.DataPlane.Sources.Postgres;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Engine;

/// <summary>The connectors this worker build can run.</summary>
internal sealed class ConnectorFactory(DataPlaneOptions options, ILoggerFactory loggerFactory) : IConnectorFactory
{
    public IChangeSource CreateSource(PipelineSpec spec, TimeProvider time)
    {
        var delivery = spec.Delivery ?? new DeliverySpec();
        return spec.Source.Type switch
        {
            ConnectionType.Postgres => new PostgresSource(spec, new PostgresSourceOptions(
                options.SourceHeartbeatInterval, options.StreamBufferLimitBytes, delivery.SnapshotChunkRows, delivery.SnapshotParallelism, options.SpillDirectory), time, loggerFactory),
            ConnectionType.Mysql => new MySqlSource(spec, new MySqlSourceOptions(options.SourceHeartbeatInterval, delivery.SnapshotChunkRows), time, loggerFactory),
            _ => throw new NotSupportedException($"This worker cannot read {spec.Source.Type} sources yet."),
        };
    }

    public IDestination CreateDestination(PipelineSpec spec, TimeProvider time)
    {
        var context = new DestinationContext(spec.PipelineId, spec.Epoch, spec.DeleteMode, spec.Destination, time);
        return spec.Destination.Type switch
        {
            ConnectionType.Duckdb => new DuckDbDestination(context, loggerFactory, DuckDbResources.From(options)),
            ConnectionType.Postgres => new PostgresDestination(context, loggerFactory),
            ConnectionType.Snowflake => new SnowflakeDestination(context, loggerFactory),
            ConnectionType.Bigquery => new BigQueryDestination(context, loggerFactory),
            _ => throw new NotSupportedException($"This worker cannot write to {spec.Destination.Type} destinations yet."),
        };
    }
}
