from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class EnergyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENERGY_TYPE_UNSPECIFIED: _ClassVar[EnergyType]
    ENERGY_TYPE_ELECTRICITY: _ClassVar[EnergyType]
    ENERGY_TYPE_HEAT: _ClassVar[EnergyType]
    ENERGY_TYPE_NATURAL_GAS: _ClassVar[EnergyType]
    ENERGY_TYPE_LNG: _ClassVar[EnergyType]
    ENERGY_TYPE_LPG: _ClassVar[EnergyType]
    ENERGY_TYPE_GASOLINE: _ClassVar[EnergyType]
    ENERGY_TYPE_DIESEL: _ClassVar[EnergyType]
    ENERGY_TYPE_KEROSENE: _ClassVar[EnergyType]
    ENERGY_TYPE_FUEL_OIL: _ClassVar[EnergyType]
    ENERGY_TYPE_RAW_COAL: _ClassVar[EnergyType]
    ENERGY_TYPE_WASHED_COAL: _ClassVar[EnergyType]
    ENERGY_TYPE_COKE: _ClassVar[EnergyType]
    ENERGY_TYPE_COKE_OVEN_GAS: _ClassVar[EnergyType]
    ENERGY_TYPE_CRUDE_OIL: _ClassVar[EnergyType]
    ENERGY_TYPE_GREEN_ELECTRICITY: _ClassVar[EnergyType]

class DataSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_SOURCE_UNSPECIFIED: _ClassVar[DataSource]
    DATA_SOURCE_TAX_INVOICE: _ClassVar[DataSource]
    DATA_SOURCE_METER: _ClassVar[DataSource]
    DATA_SOURCE_DECLARED: _ClassVar[DataSource]
ENERGY_TYPE_UNSPECIFIED: EnergyType
ENERGY_TYPE_ELECTRICITY: EnergyType
ENERGY_TYPE_HEAT: EnergyType
ENERGY_TYPE_NATURAL_GAS: EnergyType
ENERGY_TYPE_LNG: EnergyType
ENERGY_TYPE_LPG: EnergyType
ENERGY_TYPE_GASOLINE: EnergyType
ENERGY_TYPE_DIESEL: EnergyType
ENERGY_TYPE_KEROSENE: EnergyType
ENERGY_TYPE_FUEL_OIL: EnergyType
ENERGY_TYPE_RAW_COAL: EnergyType
ENERGY_TYPE_WASHED_COAL: EnergyType
ENERGY_TYPE_COKE: EnergyType
ENERGY_TYPE_COKE_OVEN_GAS: EnergyType
ENERGY_TYPE_CRUDE_OIL: EnergyType
ENERGY_TYPE_GREEN_ELECTRICITY: EnergyType
DATA_SOURCE_UNSPECIFIED: DataSource
DATA_SOURCE_TAX_INVOICE: DataSource
DATA_SOURCE_METER: DataSource
DATA_SOURCE_DECLARED: DataSource
