using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Sources;

namespace Freshet.DataPlane.Engine;

/// <summary>Creates the source reader and destination writer a pipeline spec names.</summary>
internal interface IConnectorFactory
{
    IChangeSource CreateSource(PipelineSpec spec, TimeProvider time);

    IDestination CreateDestination(PipelineSpec spec, TimeProvider time);
}
