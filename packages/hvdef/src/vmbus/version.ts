// VMBus protocol versions (spec vmbus.md 3.2) and the 6.0 feature flags.

/** `(major << 16) | minor`, as carried in INITIATE_CONTACT. */
export function vmbusVersion(major: number, minor: number): number {
  return ((major & 0xffff) * 0x10000 + (minor & 0xffff)) >>> 0;
}

export function vmbusVersionMajor(version: number): number {
  return version >>> 16;
}

export function vmbusVersionMinor(version: number): number {
  return version & 0xffff;
}

/** Every protocol version a host may accept. Values compare in protocol order as plain numbers. */
export const VmbusVersion = {
  /** 0.13, Windows Server 2008 ("V1"). */
  Ws2008: 0x0000000d,
  /** 1.1: offers gain connection_id / is_dedicated_interrupt; UNLOAD_RESPONSE. */
  Win7: 0x00010001,
  /** 2.4: per-channel event-flag interrupts, target_vp, sub-channels. */
  Win8: 0x00020004,
  /** 3.0: target_vcpu honoured. */
  Win8_1: 0x00030000,
  /** 4.0: reserved channels, hv_sock TL_CONNECT_REQUEST. */
  Win10: 0x00040000,
  /** 4.1 (RS3.0): MODIFYCHANNEL, TL_CONNECT_RESULT. */
  Win10V4_1: 0x00040001,
  /** 5.0 (RS3.1): message connection id 4, SINT/VTL in INITIATE_CONTACT, multi-client. */
  Win10V5: 0x00050000,
  /** 5.1 (RS4). */
  Win10V5_1: 0x00050001,
  /** 5.2 (RS5 / WS2019): TL_CONNECT_REQUEST with silo id. */
  Win10V5_2: 0x00050002,
  /** 5.3 (Iron / WS2022): MODIFYCHANNEL is acknowledged. */
  Win10V5_3: 0x00050003,
  /** 6.0 (Copper): feature flags, client id, larger OPENCHANNEL / VERSION_RESPONSE. */
  Win10V6_0: 0x00060000,
} as const;
export type VmbusVersion = number;

/** Known versions, newest first: the order a guest tries them in. */
export const VMBUS_VERSIONS_NEWEST_FIRST: readonly number[] = Object.values(VmbusVersion).sort(
  (a, b) => b - a,
);

/** True for exactly the versions in {@link VmbusVersion} (openvmm accepts exactly these). */
export function isKnownVmbusVersion(version: number): boolean {
  return VMBUS_VERSIONS_NEWEST_FIRST.includes(version);
}

/** `major.minor`, e.g. `5.3`. */
export function formatVmbusVersion(version: number): string {
  return `${vmbusVersionMajor(version)}.${vmbusVersionMinor(version)}`;
}

/** Minimum protocol version of each version-dependent behaviour; test with `version >= min`. */
export const VmbusVersionFeature = {
  /** OFFERCHANNEL carries is_dedicated_interrupt and connection_id (196-byte offer). */
  OfferConnectionId: VmbusVersion.Win7,
  /** UNLOAD_RESPONSE exists. */
  UnloadResponse: VmbusVersion.Win7,
  /** Per-channel event flags in the SINT 2 event page instead of the shared interrupt page. */
  PerChannelInterrupts: VmbusVersion.Win8,
  /** OPENCHANNEL.target_vp is used. */
  OpenTargetVp: VmbusVersion.Win8,
  /** Sub-channels (offer sub_channel_index). */
  SubChannels: VmbusVersion.Win8,
  /** INITIATE_CONTACT.target_vcpu is honoured. */
  TargetVcpu: VmbusVersion.Win8_1,
  /** OPEN_RESERVED_CHANNEL / CLOSE_RESERVED_CHANNEL. */
  ReservedChannels: VmbusVersion.Win10,
  /** hv_sock TL_CONNECT_REQUEST (40-byte form). */
  TlConnect: VmbusVersion.Win10,
  /** MODIFYCHANNEL and TL_CONNECT_RESULT. */
  ModifyChannel: VmbusVersion.Win10V4_1,
  /** INITIATE_CONTACT goes to connection id 4 and carries SINT/VTL; VERSION_RESPONSE names the message connection id. */
  MessageConnectionId: VmbusVersion.Win10V5,
  /** TL_CONNECT_REQUEST with silo id (56 bytes). */
  TlConnectSiloId: VmbusVersion.Win10V5_2,
  /** MODIFYCHANNEL_RESPONSE. */
  ModifyChannelResponse: VmbusVersion.Win10V5_3,
  /** Feature flags in INITIATE_CONTACT / VERSION_RESPONSE. */
  FeatureFlags: VmbusVersion.Win10V6_0,
} as const;

/** 6.0 feature flags (INITIATE_CONTACT target info, VERSION_RESPONSE.supported_features). */
export const VmbusFeatureFlags = {
  GuestSpecifiedSignalParameters: 0x1,
  ChannelInterruptRedirection: 0x2,
  ModifyConnection: 0x4,
  ClientId: 0x8,
  ConfidentialChannels: 0x10,
  PauseResume: 0x20,
  ServerSpecifiedMonitorPages: 0x40,
} as const;
export type VmbusFeatureFlags = number;
